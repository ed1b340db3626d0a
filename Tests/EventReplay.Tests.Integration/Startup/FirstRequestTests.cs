using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using EventReplay.Tests.Integration.Infrastructure;

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

    private static string Postgres => TestEnvironment.PostgresConnectionString;

    [Test]
    public async Task The_first_replay_requests_after_a_start_are_answered_in_time_on_a_busy_machine()
    {
        await Database.DropSchemaAsync(Postgres, "replay");
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

    private sealed record Answer(string Request, HttpStatusCode Status, TimeSpan Elapsed, string Body);

    private static async Task<CpuLimit?> BusyAsync(ServiceProcess service)
    {
        var limit = CpuLimit.TryApply(service.ProcessId, BusyShare, out var whyNot);
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
