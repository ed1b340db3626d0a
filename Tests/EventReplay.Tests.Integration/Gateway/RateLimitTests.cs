using System.Net;
using System.Text;
using EventReplay.Security;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Gateway;

/// <summary>
/// Per-client limits at the gateways, set low here (5 reads a second, burst 5; 2 replay starts or dry runs, then one
/// per 100 s): a client over its limit gets 429 problems with Retry-After while another client's requests pass, and
/// behind two gateways a client gets at most twice its limit.
/// </summary>
[NonParallelizable]
public sealed class RateLimitTests
{
    private ServiceStack _stack = null!;

    [OneTimeSetUp]
    public async Task StartTheSystem()
    {
        await PipelineState.ResetWithEmptyLogAsync(TestEnvironment.Databases, TestEnvironment.RedisConnectionString);
        _stack = await ServiceStack.StartedAsync(environment: new Dictionary<string, string>
        {
            ["RateLimits__Reads__PerSecond"] = "5",
            ["RateLimits__Reads__Burst"] = "5",
            ["RateLimits__Replays__PerSecond"] = "0.01",
            ["RateLimits__Replays__Burst"] = "2",
        });
    }

    [OneTimeTearDown]
    public async Task StopTheSystem() => await _stack.DisposeAsync();

    [Test]
    public void Every_route_of_the_gateway_names_its_limit()
    {
        var unlimited = BadInput.GatewayRoutes.Configured.Declarations
            .Where(route => route.RateLimiterPolicy is not ("commands" or "reads" or "replays"))
            .Select(route => route.Name);
        Assert.That(unlimited, Is.Empty);
    }

    [Test]
    public async Task A_flooding_client_gets_429_with_Retry_After_while_another_client_is_served()
    {
        using var flooder = TestTokens.Authorized(_stack.CreateClient(), TestTokens.For("flooder", Roles.Reader));
        using var quiet = TestTokens.Authorized(_stack.CreateClient(), TestTokens.For("quiet", Roles.Reader));
        var flood = Enumerable.Range(0, 60).Select(_ => flooder.GetAsync(new Uri("/api/statistics", UriKind.Relative))).ToList();
        var served = new List<HttpStatusCode>();
        foreach (var _ in Enumerable.Range(0, 3))
        {
            using var response = await quiet.GetAsync(new Uri("/api/statistics", UriKind.Relative));
            served.Add(response.StatusCode);
        }

        var answers = await Task.WhenAll(flood);
        var refused = answers.Where(a => a.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        await TestContext.Out.WriteLineAsync($"flooder: {answers.Length - refused.Count} served, {refused.Count} refused; quiet: {string.Join(", ", served)}");
        Assert.Multiple(async () =>
        {
            Assert.That(served, Is.All.EqualTo(HttpStatusCode.OK), "the other client is not starved");
            Assert.That(refused, Is.Not.Empty, "the flood goes over the limit");
            Assert.That(answers.Select(a => a.StatusCode), Is.All.AnyOf(HttpStatusCode.OK, HttpStatusCode.TooManyRequests));
            Assert.That(refused.Select(r => r.Headers.RetryAfter?.Delta), Is.All.GreaterThanOrEqualTo(TimeSpan.FromSeconds(1)), "Retry-After");
            Assert.That(refused.Select(r => r.Content.Headers.ContentType?.MediaType), Is.All.EqualTo("application/problem+json"));
            Assert.That(await refused[0].Content.ReadAsStringAsync(), Does.Contain("Too many requests"));
        });
        foreach (var answer in answers)
        {
            answer.Dispose();
        }
    }

    [Test]
    public async Task Clients_without_a_token_are_told_apart_by_their_address_which_they_cannot_make_up()
    {
        // Connections from two loopback addresses through HAProxy: the gateways see each client's own, whatever
        // X-Forwarded-For it sends (a fresh one per request does not get it fresh limits).
        using var flooder = LoopbackClient.From("127.0.0.2", _stack.LoadBalancer.BaseAddress);
        using var quiet = LoopbackClient.From("127.0.0.3", _stack.LoadBalancer.BaseAddress);
        var flood = Enumerable.Range(0, 60).Select(n =>
        {
            var request = new HttpRequestMessage(HttpMethod.Get, "/api/statistics");
            request.Headers.Add("X-Forwarded-For", $"198.51.100.{n}");
            return flooder.SendAsync(request);
        }).ToList();
        var answers = await Task.WhenAll(flood);
        using var served = await quiet.GetAsync(new Uri("/api/statistics", UriKind.Relative));

        var statuses = answers.Select(a => a.StatusCode).ToList();
        await TestContext.Out.WriteLineAsync($"flooder: {statuses.Count(s => s == HttpStatusCode.Unauthorized)} 401, "
            + $"{statuses.Count(s => s == HttpStatusCode.TooManyRequests)} 429; quiet: {(int)served.StatusCode}");
        Assert.Multiple(() =>
        {
            Assert.That(statuses.Count(s => s == HttpStatusCode.TooManyRequests), Is.GreaterThanOrEqualTo(40), "one bucket (5 + 5 a second, two gateways)");
            Assert.That(statuses, Is.All.AnyOf(HttpStatusCode.Unauthorized, HttpStatusCode.TooManyRequests));
            Assert.That(served.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized), "the other address has its own bucket");
        });
        foreach (var answer in answers)
        {
            answer.Dispose();
        }
    }

    [Test]
    public async Task Replay_starts_and_dry_runs_have_a_tighter_limit_held_within_twice_it_behind_two_gateways()
    {
        using var operatorClient = TestTokens.Authorized(_stack.CreateClient(), TestTokens.For("replay-limit", Roles.Operator));
        var statuses = new List<HttpStatusCode>();
        foreach (var _ in Enumerable.Range(0, 6))
        {
            using var response = await operatorClient.PostAsync(new Uri("/api/replays/dry-run", UriKind.Relative),
                new StringContent("""{"target":"statistics","mode":"redeliver"}""", Encoding.UTF8, "application/json"));
            statuses.Add(response.StatusCode);
        }

        await TestContext.Out.WriteLineAsync($"six dry runs in a row: {string.Join(", ", statuses.Select(s => (int)s))}");
        Assert.Multiple(() =>
        {
            Assert.That(statuses.Count(s => s == HttpStatusCode.OK), Is.InRange(2, 4), "the limit (2), at most twice it over two gateways");
            Assert.That(statuses, Does.Contain(HttpStatusCode.TooManyRequests));
            Assert.That(statuses, Is.All.AnyOf(HttpStatusCode.OK, HttpStatusCode.TooManyRequests));
        });
    }
}
