using System.Diagnostics;
using System.Net;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Gateway;

/// <summary>Parts of the public path killed under traffic; each test gets a stack of its own.</summary>
public class FailureTests
{
    private ServiceStack _stack = null!;

    private ProducerApi Api => _stack.Api;

    [SetUp]
    public async Task StartStack() => _stack = await ServiceStack.StartedAsync();

    [TearDown]
    public async Task StopStack() => await _stack.DisposeAsync();

    [Test]
    public async Task Killing_one_gateway_fails_at_most_the_requests_in_flight()
    {
        const int clients = 4;
        var id = ProducerApi.NewAccountId();
        await Api.OpenedAsync(id);
        var sent = 0;
        var failures = new List<string>();

        async Task Client()
        {
            for (var i = 0; i < 60; i++)
            {
                if (Interlocked.Increment(ref sent) == 80)
                {
                    _stack.Gateways[0].Kill();
                }

                string? failure;
                try
                {
                    using var response = await Api.DepositAsync(id, "1");
                    failure = response.StatusCode == HttpStatusCode.OK
                        ? null
                        : $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
                }
                catch (HttpRequestException exception)
                {
                    failure = exception.Message;
                }

                if (failure is not null)
                {
                    lock (failures)
                    {
                        failures.Add(failure);
                    }
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Client()));
        await TestContext.Out.WriteLineAsync($"{failures.Count} of {clients * 60} requests failed when a gateway was killed");

        Assert.Multiple(async () =>
        {
            Assert.That(failures, Has.Count.LessThanOrEqualTo(clients), string.Join(Environment.NewLine, failures));
            // A request cut off after the producer applied it is recorded without its 200 reaching the client.
            var successes = clients * 60 - failures.Count;
            Assert.That((await Api.StreamAsync(id))!, Has.Count.InRange(1 + successes, 1 + clients * 60));
        });
    }

    [Test]
    public async Task A_producer_that_is_down_is_a_quick_503_problem()
    {
        _stack.Producer.Kill();

        var clock = Stopwatch.StartNew();
        using var response = await Api.OpenAsync(ProducerApi.NewAccountId());

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
            Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
            Assert.That(response.Headers.RetryAfter, Is.Not.Null);
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(2)));
        });
    }

    [Test]
    public async Task With_every_gateway_down_the_load_balancer_answers_503_problem()
    {
        foreach (var gateway in _stack.Gateways)
        {
            gateway.Kill();
        }

        var response = await Eventually.Until(
            () => Api.Http.GetAsync(new Uri("/api/events", UriKind.Relative)),
            r => r.StatusCode == HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(10), "the balancer to give up on both gateways");

        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
        response.Dispose();
    }
}
