using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Gateway;

/// <summary>
/// Through the load balancer, a request body over the services' 64 KiB limit is refused by the gateway with a 413
/// problem on every route, whether the body announces its length or comes in chunks, and nothing is appended or started.
/// </summary>
public class BodyLimitTests : StackOverEmptyLog
{
    private const int Limit = 64 * 1024;

    // Every route of the gateway's appsettings.json (by name) with each of its methods; "{account}" is an open account.
    private static readonly (string Route, string Method, string Path)[] Routes =
    [
        ("open-account", "POST", "/api/accounts"),
        ("account-commands", "POST", "/api/accounts/{account}/deposits"),
        ("account-commands", "POST", "/api/accounts/{account}/withdrawals"),
        ("account-commands", "POST", "/api/accounts/{account}/close"),
        ("replays", "POST", "/api/replays"),
        ("replay-dry-run", "POST", "/api/replays/dry-run"),
        ("replay-control", "POST", "/api/replays/no-such-replay/pause"),
        ("replay-control", "POST", "/api/replays/no-such-replay/resume"),
        ("replay-control", "POST", "/api/replays/no-such-replay/cancel"),
        ("event-log", "GET", "/api/events"),
        ("stream-events", "GET", "/api/streams/{account}/events"),
        ("account-balance", "GET", "/api/accounts/{account}"),
        ("statistics", "GET", "/api/statistics"),
        ("openapi", "GET", "/openapi/v1.json"),
        ("replay-list", "GET", "/api/replays"),
        ("replay", "GET", "/api/replays/no-such-replay"),
        ("monitoring-endpoints", "GET", "/api/monitoring/endpoints"),
        ("monitoring-queues", "GET", "/api/monitoring/queues"),
        ("console", "GET", "/console/"),
        ("console", "POST", "/console/failed-messages?handler=RetryGroup"),
        ("audit", "GET", "/api/audit"),
        ("console-sign-in", "GET", "/console/sign-in"),
        ("console-sign-in", "POST", "/console/sign-in"),
        ("console-signin-oidc", "GET", "/console/signin-oidc"),
        ("console-stylesheet", "GET", "/console/console.css"),
        ("console-scripts", "GET", "/console/lib/htmx-2.0.11.min.js"),
        ("monitoring-endpoint-metrics", "GET", "/api/monitoring/endpoints/balances/metrics"),
        ("failed-messages", "GET", "/api/failed-messages"),
        ("failed-message-groups", "GET", "/api/failed-messages/groups"),
        ("failed-message", "GET", "/api/failed-messages/00000000-0000-0000-0000-000000000001"),
        ("retry-job", "GET", "/api/failed-messages/retry-jobs/00000000-0000-0000-0000-000000000001"),
        ("failed-messages-retry", "POST", "/api/failed-messages/retry"),
        ("failed-message-retry", "POST", "/api/failed-messages/00000000-0000-0000-0000-000000000001/retry"),
        ("failed-message-archive", "POST", "/api/failed-messages/00000000-0000-0000-0000-000000000001/archive"),
        ("failed-message-unarchive", "POST", "/api/failed-messages/00000000-0000-0000-0000-000000000001/unarchive"),
        ("failed-message-edit", "POST", "/api/failed-messages/00000000-0000-0000-0000-000000000001/edit-and-retry"),
        ("failed-message-group-archive", "POST", "/api/failed-messages/groups/no-such-group/archive"),
        ("failed-message-group-unarchive", "POST", "/api/failed-messages/groups/no-such-group/unarchive"),
    ];

    private string _account = null!;

    [OneTimeSetUp]
    public async Task OpenAnAccount()
    {
        _account = ProducerApi.NewAccountId();
        await Api.OpenedAsync(_account);
    }

    public static IEnumerable<TestCaseData> OversizedBodies()
    {
        foreach (var (_, method, path) in Routes)
        {
            // Commands get every size; reads, which take no body, the one size the issue saw fail most.
            int[] sizes = method == "POST" ? [65 * 1024, 100 * 1024, 1024 * 1024, 2 * 1024 * 1024] : [100 * 1024];
            foreach (var bytes in sizes)
            {
                foreach (var chunked in new[] { false, true })
                {
                    yield return new TestCaseData(method, path, bytes, chunked);
                }
            }
        }
    }

    [Test]
    public void The_cases_cover_every_route_and_method_of_the_gateway()
    {
        var configured = BadInput.GatewayRoutes.Configured.RouteMethods;

        Assert.That(Routes.Select(route => (route.Route, route.Method)).Distinct(), Is.EquivalentTo(configured));
    }

    [TestCaseSource(nameof(OversizedBodies))]
    public async Task A_body_over_the_limit_is_a_413_problem_from_the_gateway_and_changes_nothing(string method, string path,
        int bytes, bool chunked)
    {
        var before = await StateAsync();

        using var response = await SendAsync(method, path.Replace("{account}", _account, StringComparison.Ordinal), Body(bytes), chunked);

        var problem = await ProducerApi.BodyAsync(response, 413);
        Assert.Multiple(async () =>
        {
            Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
            Assert.That(problem.GetProperty("status").GetInt32(), Is.EqualTo(413));
            Assert.That(await StateAsync(), Is.EqualTo(before), "nothing appended, no replay started");
        });
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task A_command_body_of_exactly_the_limit_passes_the_gateway(bool chunked)
    {
        var id = ProducerApi.NewAccountId();
        await Api.OpenedAsync(id);

        using var response = await SendAsync("POST", $"/api/accounts/{id}/deposits", Body(Limit), chunked);

        await ProducerApi.BodyAsync(response, 200);
        Assert.That((await Api.StreamAsync(id))!, Has.Count.EqualTo(2));
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task A_replay_request_of_exactly_the_limit_passes_the_gateway(bool chunked)
    {
        // Padded in a property the request does not read: a reason is at most 1,000 characters.
        var body = Padded("""{"target":"balances","mode":"redeliver","note":" """, Limit);

        using var response = await SendAsync("POST", "/api/replays/dry-run", body, chunked);

        var plan = await ProducerApi.BodyAsync(response, 200);
        Assert.That(plan.TryGetProperty("eventsTotal", out _), Is.True, plan.ToString());
    }

    /// <summary>A deposit of 1 with a note that makes the JSON exactly <paramref name="bytes"/> long.</summary>
    private static byte[] Body(int bytes) => Padded("""{"amount":1,"note":" """, bytes);

    /// <summary>
    /// A JSON object exactly <paramref name="bytes"/> long: <paramref name="head"/> (which opens a string with a space)
    /// then that string's padding and the object's end.
    /// </summary>
    private static byte[] Padded(string head, int bytes)
    {
        var body = Encoding.UTF8.GetBytes(head + new string('x', bytes - Encoding.UTF8.GetByteCount(head) - 2) + "\"}");
        Assert.That(body, Has.Length.EqualTo(bytes));
        return body;
    }

    private async Task<HttpResponseMessage> SendAsync(string method, string path, byte[] body, bool chunked)
    {
        HttpContent content = chunked ? new StreamContent(new MemoryStream(body)) : new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = content };
        request.Headers.TransferEncodingChunked = chunked;
        return await Api.Http.SendAsync(request);
    }

    /// <summary>What a refused request must leave alone: the log's head, the open account's stream, the replays.</summary>
    private async Task<(long Head, int AccountEvents, int Replays)> StateAsync()
    {
        using var replays = await Api.Http.GetAsync(new Uri("/api/replays?limit=1000", UriKind.Relative));
        var list = await ProducerApi.BodyAsync(replays, 200);
        return (await Api.HeadAsync(), (await Api.StreamAsync(_account))!.Count, list.GetProperty("replays").GetArrayLength());
    }
}
