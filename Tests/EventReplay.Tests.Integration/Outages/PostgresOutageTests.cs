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
            new Dictionary<string, string> { ["ConnectionStrings__postgres"] = _postgres.ConnectionString });
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
    public async Task Commands_get_a_fast_503_while_PostgreSQL_is_down_and_work_again_after_it_returns(string howItGoesDown)
    {
        var id = ProducerApi.NewAccountId();
        await _api.OpenedAsync(id);

        await (howItGoesDown == "stop" ? _postgres.StopAsync() : _postgres.KillAsync());

        var clock = Stopwatch.StartNew();
        using var deposit = await _api.DepositAsync(id, "1");
        var elapsed = clock.Elapsed;
        using var open = await _api.OpenAsync(ProducerApi.NewAccountId());
        using var read = await _api.Http.GetAsync(new Uri("/api/events", UriKind.Relative));
        using var ready = await _api.Http.GetAsync(new Uri("/health/ready", UriKind.Relative));
        using var live = await _api.Http.GetAsync(new Uri("/health/live", UriKind.Relative));
        Assert.Multiple(() =>
        {
            Assert.That(deposit.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
            Assert.That(deposit.Headers.RetryAfter?.Delta, Is.GreaterThan(TimeSpan.Zero));
            Assert.That(deposit.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
            Assert.That(elapsed, Is.LessThan(TimeSpan.FromSeconds(5)));
            Assert.That(open.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
            Assert.That(read.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
            Assert.That(ready.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
            Assert.That(live.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        });

        await _postgres.StartAsync();

        // The pool may still hold connections from before the outage; the producer must recover by itself.
        await Eventually.Until(async () =>
        {
            using var response = await _api.DepositAsync(id, "1");
            return response.StatusCode;
        }, status => status == HttpStatusCode.OK, TimeSpan.FromSeconds(15), "a deposit to succeed after PostgreSQL returned");
        using var readyAgain = await _api.Http.GetAsync(new Uri("/health/ready", UriKind.Relative));
        Assert.Multiple(async () =>
        {
            Assert.That(readyAgain.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That((await _api.StreamAsync(id))!, Has.Count.EqualTo(2), "only the deposit made after the outage is recorded");
        });
    }
}
