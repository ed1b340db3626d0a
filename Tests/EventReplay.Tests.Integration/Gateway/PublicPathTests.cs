using System.Net;
using System.Text.Json;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Gateway;

/// <summary>Requests through the load balancer and a gateway to the producer, with nothing broken.</summary>
public class PublicPathTests
{
    private ServiceStack _stack = null!;

    private ProducerApi Api => _stack.Api;

    [OneTimeSetUp]
    public async Task StartStack() => _stack = await ServiceStack.StartedAsync();

    [OneTimeTearDown]
    public async Task StopStack() => await _stack.DisposeAsync();

    [Test]
    public async Task Commands_and_reads_go_through_the_load_balancer()
    {
        var id = ProducerApi.NewAccountId();
        await Api.OpenedAsync(id);
        using (var deposit = await Api.DepositAsync(id, "10")) { await ProducerApi.BodyAsync(deposit, 200); }
        using (var withdrawal = await Api.WithdrawAsync(id, "20")) { await ProducerApi.BodyAsync(withdrawal, 409); }

        var events = (await Api.StreamAsync(id))!;

        Assert.That(events.Select(e => e.GetProperty("type").GetString()), Is.EqualTo(new[] { "AccountOpened", "FundsDeposited" }));
    }

    [Test]
    public async Task Trace_context_reaches_the_producer_and_the_correlation_id_is_the_gateways()
    {
        const string traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/streams/{ProducerApi.NewAccountId()}/events");
        request.Headers.Add("traceparent", $"00-{traceId}-00f067aa0ba902b7-01");
        request.Headers.Add("X-Correlation-Id", "order-42");

        using var response = await Api.Http.SendAsync(request);
        var problem = await ProducerApi.BodyAsync(response, 404);

        Assert.Multiple(() =>
        {
            // The producer writes its own trace id into problem details: it is the caller's trace.
            Assert.That(problem.GetProperty("traceId").GetString(), Is.EqualTo(traceId));
            // A client cannot name the correlation id the services and the audit trail record: it is the trace's.
            Assert.That(response.Headers.GetValues("X-Correlation-Id"), Is.EqualTo(new[] { traceId }));
        });
    }

    [Test]
    public async Task A_correlation_id_is_made_when_the_caller_sends_none()
    {
        using var response = await Api.Http.GetAsync(new Uri("/api/events?limit=1", UriKind.Relative));

        Assert.That(response.Headers.GetValues("X-Correlation-Id").Single(), Does.Match("^[0-9a-f]{32}$"));
    }

    [TestCase("GET", "/api/nothing", HttpStatusCode.NotFound)]
    [TestCase("DELETE", "/api/accounts/acc-1/deposits", HttpStatusCode.MethodNotAllowed)]
    [TestCase("POST", "/api/accounts/acc-1/transfers", HttpStatusCode.NotFound)]
    public async Task Requests_no_route_serves_are_problem_details_from_the_gateway(string method, string path, HttpStatusCode expected)
    {
        using var response = await Api.Http.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(expected));
            Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
        });
    }

    [Test]
    public async Task The_gateway_answers_health_checks()
    {
        using var client = _stack.Gateways[0].CreateClient();

        using var response = await client.GetAsync(new Uri("/health", UriKind.Relative));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task Problem_details_from_the_producer_pass_through_unchanged()
    {
        using var response = await Api.PostJsonAsync("/api/accounts", "{\"accountId\":\"bad id\",\"owner\":\"x\"}");

        var problem = await ProducerApi.BodyAsync(response, 400);
        Assert.That(problem.GetProperty("errors").TryGetProperty("accountId", out _), Is.True);
    }
}
