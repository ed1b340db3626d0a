using System.Diagnostics;
using System.Net;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Outages;

/// <summary>The producer over a PostgreSQL of its own that the tests stop and start again.</summary>
public class PostgresOutageTests
{
    private PostgresInstance _postgres = null!;
    private ServiceProcess _producer = null!;
    private ProducerApi _api = null!;

    [SetUp]
    public async Task StartProducerOnItsOwnDatabase()
    {
        _postgres = new PostgresInstance();
        await _postgres.StartAsync();
        _producer = new ServiceProcess("EventReplay.Producer",
            new Dictionary<string, string>(TestEnvironment.ServiceConnections(eventStore: _postgres.ConnectionString))
            {
                // This store is not the tests' log: keep its events out of the tests' queues.
                ["Publishing__Enabled"] = "false",
            });
        await _producer.StartAsync();
        _api = new ProducerApi(_producer.CreateClient());
    }

    [TearDown]
    public async Task StopEverything()
    {
        _api.Http.Dispose();
        await _producer.DisposeAsync();
        await _postgres.DisposeAsync();
    }

    [TestCase("stop")]
    [TestCase("kill")]
    [TestCase("pause")]
    public async Task Requests_get_a_503_within_5_seconds_while_PostgreSQL_is_down_and_work_again_after_it_returns(string howItGoesDown)
    {
        var id = ProducerApi.NewAccountId();
        await _api.OpenedAsync(id);

        await (howItGoesDown switch
        {
            "stop" => _postgres.StopAsync(),
            "kill" => _postgres.KillAsync(),
            _ => _postgres.PauseAsync(),
        });

        var deposit = await TimedAsync(() => _api.DepositAsync(id, "1"));
        var open = await TimedAsync(() => _api.OpenAsync(ProducerApi.NewAccountId()));
        var read = await TimedAsync(() => _api.Http.GetAsync(new Uri("/api/events", UriKind.Relative)));
        var stream = await TimedAsync(() => _api.Http.GetAsync(new Uri($"/api/streams/{id}/events", UriKind.Relative)));
        var ready = await TimedAsync(() => _api.Http.GetAsync(new Uri("/health/ready", UriKind.Relative)));
        var live = await TimedAsync(() => _api.Http.GetAsync(new Uri("/health/live", UriKind.Relative)));
        Assert.Multiple(() =>
        {
            foreach (var (response, elapsed) in new[] { deposit, open, read, stream })
            {
                var request = $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri?.AbsolutePath}";
                Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable), request);
                Assert.That(response.Headers.RetryAfter?.Delta, Is.GreaterThan(TimeSpan.Zero), request);
                Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"), request);
                Assert.That(elapsed, Is.LessThan(TimeSpan.FromSeconds(5)), request);
            }

            Assert.That(ready.Response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
            Assert.That(ready.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)));
            Assert.That(live.Response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        });

        await (howItGoesDown == "pause" ? _postgres.ResumeAsync() : _postgres.StartAsync());

        // The pool may still hold connections from before the outage; the producer must recover by itself.
        await Eventually.Until(async () =>
        {
            using var response = await _api.DepositAsync(id, "1", key: "after-outage");
            return response.StatusCode;
        }, status => status == HttpStatusCode.OK, TimeSpan.FromSeconds(15), "a deposit to succeed after PostgreSQL returned");
        using var readyAgain = await _api.Http.GetAsync(new Uri("/health/ready", UriKind.Relative));
        var events = (await _api.StreamAsync(id))!;
        Assert.Multiple(() =>
        {
            Assert.That(readyAgain.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(events.Count(e => e.GetProperty("type").GetString() == "FundsDeposited"), Is.EqualTo(1),
                "the deposit refused during the outage is not recorded; the keyed one after it exactly once");
        });
    }

    private static async Task<(HttpResponseMessage Response, TimeSpan Elapsed)> TimedAsync(Func<Task<HttpResponseMessage>> request)
    {
        var clock = Stopwatch.StartNew();
        var response = await request();
        return (response, clock.Elapsed);
    }
}
