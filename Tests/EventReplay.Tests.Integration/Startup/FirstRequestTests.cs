using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using EventReplay.Tests.Integration.Infrastructure;
using Npgsql;

namespace EventReplay.Tests.Integration.Startup;

/// <summary>
/// The first requests after a service starts. They used to do one-time work (the JIT compiling their code path,
/// Marten building its storage for a type, serializers' metadata) inside their 4 s deadline: quick enough on an idle
/// machine, a 503 or a late answer on a busy one. Each test starts a service over a fresh schema and, once it is ready,
/// caps it at a tenth of one CPU, as a machine busy with other work would, before its first requests.
/// </summary>
public class FirstRequestTests
{
    private const double BusyShare = 0.1;

    // The services' request deadline (RequestDeadline.Limit).
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(4);

    private static string EventStore => TestEnvironment.EventStoreConnectionString;

    private static string ReadModels => TestEnvironment.ReadModelsConnectionString;

    [Test]
    public async Task The_first_replay_requests_after_a_start_are_answered_in_time_on_a_busy_machine()
    {
        await Database.DropSchemaAsync(ReadModels, "replay");
        await using var service = new ServiceProcess("EventReplay.Replay", TestEnvironment.ServiceConnections());
        await service.StartAsync();
        using var busy = await BusyAsync(service);
        using var client = service.CreateClient();

        var started = await TimedAsync(client, HttpMethod.Post, "/api/replays",
            """{"target":"balances","mode":"redeliver","streamIds":["acc-first-request"],"reason":"first request"}""");
        var id = started.Status == HttpStatusCode.Accepted ? JsonDocument.Parse(started.Body).RootElement.GetProperty("replayId").GetString() : "none";
        var shown = await TimedAsync(client, HttpMethod.Get, $"/api/replays/{id}");
        var listed = await TimedAsync(client, HttpMethod.Get, "/api/replays?limit=5");

        Assert.Multiple(() =>
        {
            AssertInTime(started, HttpStatusCode.Accepted);
            AssertInTime(shown, HttpStatusCode.OK);
            AssertInTime(listed, HttpStatusCode.OK);
        });
    }

    [Test]
    public async Task The_first_commands_after_the_producer_starts_are_answered_in_time_on_a_busy_machine()
    {
        await Database.DropSchemaAsync(EventStore, "producer");
        await using var service = new ServiceProcess("EventReplay.Producer", TestEnvironment.ServiceConnections());
        await service.StartAsync();
        using var busy = await BusyAsync(service);
        using var client = service.CreateClient();
        var id = ProducerApi.NewAccountId();

        var opened = await TimedAsync(client, HttpMethod.Post, "/api/accounts", $$"""{"accountId":"{{id}}","owner":"Ada"}""");
        var deposited = await TimedAsync(client, HttpMethod.Post, $"/api/accounts/{id}/deposits", """{"amount":10}""");
        var read = await TimedAsync(client, HttpMethod.Get, $"/api/streams/{id}/events");

        Assert.Multiple(() =>
        {
            AssertInTime(opened, HttpStatusCode.Created);
            AssertInTime(deposited, HttpStatusCode.OK);
            AssertInTime(read, HttpStatusCode.OK);
        });
    }

    [Test]
    public async Task The_first_reads_after_the_consumers_start_are_answered_in_time_on_a_busy_machine()
    {
        await PipelineState.ResetAsync(TestEnvironment.Databases, TestEnvironment.RedisConnectionString);
        var connections = TestEnvironment.ServiceConnections();
        await using var balances = new ServiceProcess("EventReplay.Consumers.Balances", connections);
        await using var statistics = new ServiceProcess("EventReplay.Consumers.Statistics", connections);
        await Task.WhenAll(balances.StartAsync(), statistics.StartAsync());
        // A row written straight to the read model, so that the first read is the service's first work on it.
        var id = ProducerApi.NewAccountId();
        await using (var connection = new NpgsqlConnection(ReadModels))
        {
            await connection.OpenAsync();
            await Database.ExecuteAsync(connection,
                $"insert into balances.accounts (account_id, owner, balance, status, version, position, updated_at) values ('{id}', 'Ada', 10, 'open', 2, 2, now())");
        }

        using var busyBalances = await BusyAsync(balances);
        using var busyStatistics = await BusyAsync(statistics);
        using var balancesClient = balances.CreateClient();
        using var statisticsClient = statistics.CreateClient();

        var account = await TimedAsync(balancesClient, HttpMethod.Get, $"/api/accounts/{id}");
        var totals = await TimedAsync(statisticsClient, HttpMethod.Get, "/api/statistics");

        Assert.Multiple(() =>
        {
            AssertInTime(account, HttpStatusCode.OK);
            AssertInTime(totals, HttpStatusCode.OK);
        });
    }

    private sealed record Answer(string Request, HttpStatusCode Status, TimeSpan Elapsed, string Body);

    private static async Task<CpuLimit?> BusyAsync(ServiceProcess service)
    {
        var limit = CpuLimit.TryApply(service.ProcessId!.Value, BusyShare, out var whyNot);
        await TestContext.Out.WriteLineAsync(limit is null
            ? $"Could not cap the service's CPU ({whyNot}): it runs at full speed, where the first requests' one-time work hardly shows."
            : $"Capped at {BusyShare:P0} of one CPU.");
        return limit;
    }

    private static async Task<Answer> TimedAsync(HttpClient client, HttpMethod method, string path, string? json = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        var clock = Stopwatch.StartNew();
        using var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        var answer = new Answer($"{method} {path}", response.StatusCode, clock.Elapsed, body);
        await TestContext.Out.WriteLineAsync($"{answer.Request}: {(int)answer.Status} in {answer.Elapsed.TotalMilliseconds:0} ms");
        return answer;
    }

    private static void AssertInTime(Answer answer, HttpStatusCode expected)
    {
        Assert.That(answer.Status, Is.EqualTo(expected), $"{answer.Request}: {answer.Body}");
        Assert.That(answer.Elapsed, Is.LessThan(Deadline), $"{answer.Request} took longer than the request deadline");
    }
}
