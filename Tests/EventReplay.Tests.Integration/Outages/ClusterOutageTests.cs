using System.Globalization;
using System.Net;
using EventReplay.Tests.Integration.Infrastructure;
using EventReplay.Tests.Integration.Pipeline;

namespace EventReplay.Tests.Integration.Outages;

/// <summary>
/// The event store and the read models on PostgreSQL servers of their own, one of them the test's to stop: losing the
/// event store never stops reads, losing the read models never stops commands.
/// </summary>
public class ClusterOutageTests
{
    private static readonly TimeSpan Settle = LivePipelineTests.Settle;

    [Test]
    public async Task With_the_event_store_down_30_s_every_read_answers_from_its_own_database_with_the_header_and_commands_get_503()
    {
        await using var eventStore = new PostgresInstance();
        await eventStore.StartAsync();
        var databases = TestEnvironment.Databases with { EventStore = eventStore.ConnectionString };
        await PipelineState.ResetWithEmptyLogAsync(databases, TestEnvironment.RedisConnectionString);
        await using var stack = await ServiceStack.StartedAsync(eventStore: eventStore.ConnectionString);
        var id = ProducerApi.NewAccountId();
        await stack.Api.OpenedAsync(id);
        using (var deposit = await stack.Api.DepositAsync(id, "5")) { await ProducerApi.BodyAsync(deposit, 200); }
        var before = await Eventually.Until(() => ReadAsync(stack, $"/api/accounts/{id}"), r => r.Version == 2, Settle, "the deposit to be read");
        await Eventually.Until(() => ReadAsync(stack, "/api/statistics"), r => r.Position == before.Position, Settle, "the statistics to apply it");

        await eventStore.StopAsync();
        foreach (var path in new[] { $"/api/accounts/{id}", "/api/statistics" })
        {
            await Eventually.Until(() => ReadAsync(stack, path), r => r.EventStore == "unavailable", Settle, $"{path} to say the event store is unavailable");
        }

        using var refused = await stack.Api.DepositAsync(id, "1");
        var ready = await ReadyAsync(stack);

        // 30 s of reads, both read models, through the load balancer: every one answered, from the read side alone; and a
        // command about every second, each refused with 503 problem details and Retry-After.
        var reads = new List<Read>();
        var commands = new List<string>();
        var outage = System.Diagnostics.Stopwatch.StartNew();
        var nextCommand = TimeSpan.Zero;
        while (outage.Elapsed < TimeSpan.FromSeconds(30))
        {
            reads.Add(await ReadAsync(stack, $"/api/accounts/{id}"));
            reads.Add(await ReadAsync(stack, "/api/statistics"));
            if (outage.Elapsed >= nextCommand)
            {
                nextCommand = outage.Elapsed + TimeSpan.FromSeconds(1);
                using var command = await stack.Api.DepositAsync(id, "1");
                commands.Add($"{(int)command.StatusCode} {command.Content.Headers.ContentType?.MediaType} {(command.Headers.RetryAfter is null ? "no Retry-After" : "Retry-After")}");
            }
        }

        var ages = reads.Select(r => r.Age).OfType<double>().ToList();
        await TestContext.Out.WriteLineAsync($"{reads.Count} reads in 30 s with the event store down: "
            + string.Join(", ", reads.GroupBy(r => $"{(int)r.Status} {r.EventStore ?? "no header"}").Select(g => $"{g.Key} ×{g.Count()}"))
            + $"; last event position {reads[^1].Position}, age {ages.Min():0.0}–{ages.Max():0.0} s; {commands.Count} commands meanwhile: "
            + string.Join(", ", commands.GroupBy(c => c).Select(g => $"{g.Key} ×{g.Count()}")));
        Assert.Multiple(() =>
        {
            Assert.That(reads.Where(r => r.Status != HttpStatusCode.OK).Select(r => $"{r.Path} {(int)r.Status}"), Is.Empty, "reads not answered 200");
            Assert.That(reads.Where(r => r.EventStore != "unavailable").Select(r => r.Path), Is.Empty, "reads without X-Event-Store: unavailable");
            Assert.That(reads.Where(r => r.Position != before.Position).Select(r => $"{r.Path} {r.Position}"), Is.Empty,
                "the last applied event's position on every read");
            Assert.That(ages, Has.Count.EqualTo(reads.Count), "the last applied event's age on every read");
            Assert.That(reads.Where(r => r.Stale).Select(r => r.Path), Is.Empty, "the read models' own database answered");
            Assert.That(reads.Where(r => r.Path.StartsWith("/api/accounts/", StringComparison.Ordinal)).Select(r => r.Version),
                Is.All.EqualTo(2L), "the account as last applied");
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable), "a command");
            Assert.That(refused.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
            Assert.That(refused.Headers.RetryAfter, Is.Not.Null);
            Assert.That(commands, Has.Count.GreaterThanOrEqualTo(10).And.All.EqualTo("503 application/problem+json Retry-After"),
                "a command every second of the outage");
            Assert.That(ready, Is.EqualTo(new Dictionary<string, HttpStatusCode>
            {
                ["producer"] = HttpStatusCode.ServiceUnavailable,
                ["balances"] = HttpStatusCode.OK,
                ["statistics"] = HttpStatusCode.OK,
            }));
        });

        await eventStore.StartAsync();
        await Eventually.Until(async () =>
        {
            using var response = await stack.Api.DepositAsync(id, "1", key: "after-outage");
            return response.StatusCode;
        }, status => status == HttpStatusCode.OK, Settle, "a deposit to succeed again");
        // The position header is the consumer's memory of its last commit, said just after it: a read between the two can
        // show the new version beside the old position, so the test waits for both rather than taking the first.
        var after = await Eventually.Until(() => ReadAsync(stack, $"/api/accounts/{id}"),
            r => r.Version == 3 && r.EventStore is null && r.Position > before.Position, Settle,
            "the new deposit to be read, the header gone and the last applied event moved on");
        Assert.That(after.Age, Is.Not.Null.And.LessThan(Settle.TotalSeconds), "the last applied event's age is the new deposit's");
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(stack.Api, databases);
    }

    /// <summary>A read through the load balancer and what its headers say about its freshness.</summary>
    private sealed record Read(string Path, HttpStatusCode Status, long? Version, string? EventStore, long? Position, double? Age, bool Stale);

    private static async Task<Read> ReadAsync(ServiceStack stack, string path)
    {
        using var response = await stack.Api.Http.GetAsync(new Uri(path, UriKind.Relative));
        string? Header(string name) => response.Headers.TryGetValues(name, out var values) ? values.Single() : null;
        long? version = null;
        if (response.StatusCode == HttpStatusCode.OK && path.StartsWith("/api/accounts/", StringComparison.Ordinal))
        {
            version = (await ProducerApi.BodyAsync(response, 200)).GetProperty("version").GetInt64();
        }

        return new Read(path, response.StatusCode, version, Header("X-Event-Store"),
            Header("X-Last-Event-Position") is { } position ? long.Parse(position, CultureInfo.InvariantCulture) : null,
            Header("X-Last-Event-Age") is { } age ? double.Parse(age, CultureInfo.InvariantCulture) : null,
            Header("X-Data-Stale") == "true");
    }

    [Test]
    public async Task With_the_read_models_down_commands_keep_being_accepted_and_apply_once_they_are_back()
    {
        await using var readModels = new PostgresInstance();
        await readModels.StartAsync();
        var databases = TestEnvironment.Databases with { ReadModels = readModels.ConnectionString };
        await PipelineState.ResetWithEmptyLogAsync(databases, TestEnvironment.RedisConnectionString);
        await using var stack = await ServiceStack.StartedAsync(readModels: readModels.ConnectionString);
        var id = ProducerApi.NewAccountId();
        await stack.Api.OpenedAsync(id);
        await Eventually.Until(() => PipelineFailureTests.ReadAsync(stack.Api.Http, id), r => r.Version == 1, Settle, "the account to be read");

        await readModels.StopAsync();
        var accepted = new List<HttpStatusCode>();
        foreach (var amount in new[] { "1", "2", "3" })
        {
            using var deposit = await stack.Api.DepositAsync(id, amount);
            accepted.Add(deposit.StatusCode);
        }

        var ready = await ReadyAsync(stack);
        Assert.Multiple(() =>
        {
            Assert.That(accepted, Is.All.EqualTo(HttpStatusCode.OK), "commands while the read models are down");
            Assert.That(ready["producer"], Is.EqualTo(HttpStatusCode.OK));
            Assert.That(ready["balances"], Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        });

        await readModels.StartAsync();
        var read = await Eventually.Until(() => PipelineFailureTests.ReadAsync(stack.Api.Http, id), r => r is { Version: 4, Stale: false }, Settle,
            "the deposits made during the outage to be read");
        Assert.That(read.Balance, Is.EqualTo(6m));
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(stack.Api, databases);
    }

    private static async Task<Dictionary<string, HttpStatusCode>> ReadyAsync(ServiceStack stack)
    {
        var ready = new Dictionary<string, HttpStatusCode>();
        foreach (var (name, service) in new[] { ("producer", stack.Producer), ("balances", stack.Balances), ("statistics", stack.Statistics) })
        {
            using var client = service.CreateClient();
            using var response = await client.GetAsync(new Uri("/health/ready", UriKind.Relative));
            ready[name] = response.StatusCode;
        }

        return ready;
    }
}
