using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Monitoring;

/// <summary>
/// The monitor hears every process of the system through its heartbeats, through the public path: each instance
/// alive with its checks; one killed with SIGKILL goes missing and its restart comes up alive; one stopped cleanly
/// is stopped. Other stacks' processes share the tests' broker and database, so each instance is found by its pid.
/// </summary>
[NonParallelizable]
public class EndpointMonitoringTests
{
    private static readonly TimeSpan Heard = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Every_process_is_alive_with_its_checks_a_killed_one_goes_missing_and_comes_back_and_a_stopped_one_is_stopped()
    {
        await using var stack = await ServiceStack.StartedAsync();
        var processes = new Dictionary<string, ServiceProcess>
        {
            ["producer"] = stack.Producer,
            ["balances"] = stack.Balances,
            ["statistics"] = stack.Statistics,
            ["replay"] = stack.Replay,
            ["monitor"] = stack.Monitor,
            ["gateway 1"] = stack.Gateways[0],
            ["gateway 2"] = stack.Gateways[1],
        };
        var pids = processes.ToDictionary(p => p.Key, p => p.Value.ProcessId!.Value);
        var alive = await Eventually.Until(() => InstancesAsync(stack), list => pids.Values.All(pid => Of(list, pid)?.Status == "alive"), Heard,
            "every process to be heard from");
        foreach (var (name, pid) in pids)
        {
            var instance = Of(alive, pid)!;
            await TestContext.Out.WriteLineAsync($"{name}: {instance.Endpoint} {instance.Status}, checks "
                + string.Join(", ", instance.Checks.Select(c => $"{c.Name} {c.Status}")));
        }

        Assert.Multiple(() =>
        {
            foreach (var (name, pid) in pids)
            {
                var instance = Of(alive, pid)!;
                Assert.That(instance.Endpoint, Is.EqualTo(name.StartsWith("gateway", StringComparison.Ordinal) ? "gateway" : name), name);
                Assert.That(instance.Version, Is.Not.Empty, $"{name}: version");
                Assert.That(instance.Host, Is.EqualTo(Environment.MachineName), $"{name}: host");
            }

            Assert.That(Of(alive, pids["producer"])!.Checks.Select(c => c.Name), Does.Contain("postgres"), "the producer's checks");
            Assert.That(Of(alive, pids["balances"])!.Checks.Select(c => (c.Name, c.Status)),
                Is.SupersetOf(new[] { ("postgres", "healthy"), ("rabbitmq", "healthy"), ("redis", "healthy"), ("eventstore", "healthy") }),
                "the balances' checks: its health checks and the dependencies it uses");
            Assert.That(Of(alive, pids["gateway 1"])!.Checks.Select(c => (c.Name, c.Status)), Does.Contain(("rabbitmq", "healthy")),
                "a gateway's checks");
        });

        // kill -9 of a consumer: missing once silent for 15 s; its supervisor starts it again, which comes up alive.
        var killed = Stopwatch.StartNew();
        await Signals.SendAsync(pids["balances"], "KILL");
        await Eventually.Until(() => InstancesAsync(stack), list => Of(list, pids["balances"])?.Status == "missing", Heard,
            "the killed balances to be missing");
        var missingAfter = killed.Elapsed;
        var restarted = await Eventually.Until(() => Task.FromResult(stack.Balances.ProcessId), pid => pid is { } p && p != pids["balances"], Heard,
            "the balances to be started again");
        await Eventually.Until(() => InstancesAsync(stack), list => Of(list, restarted!.Value)?.Status == "alive", Heard,
            "the restarted balances to be alive");
        var backAfter = killed.Elapsed;

        // A clean stop (SIGTERM): the process says goodbye.
        await Signals.SendAsync(pids["statistics"], "TERM");
        var stopped = await Eventually.Until(() => InstancesAsync(stack), list => Of(list, pids["statistics"])?.Status == "stopped", Heard,
            "the stopped statistics to be stopped");
        await TestContext.Out.WriteLineAsync($"balances killed: missing after {missingAfter.TotalSeconds:0.0} s, alive again (pid {restarted}) after "
            + $"{backAfter.TotalSeconds:0.0} s; statistics stopped: {Of(stopped, pids["statistics"])!.Status}");
        Assert.That(missingAfter, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(10)), "missing only once silent for 15 s (its last heartbeat up to 5 s before the kill)");
    }

    private sealed record Check(string Name, string Status, string? Detail);

    private sealed record Instance(string Endpoint, string InstanceId, string Host, int Pid, string Version, DateTimeOffset StartedAt,
        DateTimeOffset LastSeenAt, string Status, List<Check> Checks);

    private sealed record Listing(List<Instance> Endpoints);

    private static Instance? Of(IReadOnlyList<Instance> instances, int pid) => instances.Where(i => i.Pid == pid).MaxBy(i => i.StartedAt);

    private static async Task<IReadOnlyList<Instance>> InstancesAsync(ServiceStack stack)
    {
        using var response = await stack.Api.Http.GetAsync(new Uri("/api/monitoring/endpoints", UriKind.Relative));
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<Listing>(new JsonSerializerOptions(JsonSerializerDefaults.Web)))!.Endpoints;
    }
}
