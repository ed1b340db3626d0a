using System.Net;
using System.Text.Json;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Monitoring;

/// <summary>
/// The monitor's samples against the whole system: queues as RabbitMQ reports them, a consumer's lag in events growing
/// while it cannot apply and gone once it can, and a consumer's series (events applied, processing and critical time).
/// </summary>
[NonParallelizable]
public class MetricsTests : StackOverEmptyLog
{
    private static readonly TimeSpan Sampled = TimeSpan.FromSeconds(30);

    [Test]
    public async Task A_consumer_that_cannot_apply_shows_its_lag_and_its_queue_then_catches_up_and_its_series_shows_the_events()
    {
        var accounts = new List<string>();
        await using (await ApplyLockHold.TakeAsync(ReadModels, "balances"))
        {
            for (var i = 0; i < 40; i++)
            {
                var id = ProducerApi.NewAccountId();
                await Api.OpenedAsync(id);
                accounts.Add(id);
            }

            // RabbitMQ's management figures are up to 5 s old, the consumers' checkpoints as old as their last heartbeat.
            var behind = await Eventually.Until(() => QueuesAsync(),
                q => Lag(q, "balances") >= 40 && Queue(q, "balances.live").GetProperty("length").GetInt64() >= 1, Sampled,
                "the balances' lag and live queue to show the events it cannot apply");
            await TestContext.Out.WriteLineAsync($"held: balances lag {Lag(behind, "balances")}, statistics lag {Lag(behind, "statistics")}; "
                + $"balances.live {Queue(behind, "balances.live")}");
        }

        var caughtUp = await Eventually.Until(() => QueuesAsync(), q => Lag(q, "balances") == 0 && Lag(q, "statistics") == 0, Sampled,
            "both consumers to catch up");
        var series = await Eventually.Until(() => SeriesAsync("balances", "5m"),
            s => s.Sum(p => Value(p, "eventsApplied")) >= 40 && s.Any(p => Value(p, "lagEvents") >= 40), Sampled,
            "the balances' series to show the events and the lag");
        await TestContext.Out.WriteLineAsync($"caught up: {caughtUp}");
        await TestContext.Out.WriteLineAsync("balances series: " + string.Join(" | ", series.Select(p => p.GetProperty("values").ToString())));
        Assert.Multiple(() =>
        {
            Assert.That(series.Max(p => Value(p, "criticalTimeMsMax")), Is.GreaterThan(0), "critical time: committed → applied");
            Assert.That(series.Where(p => Value(p, "eventsApplied") > 0).All(p => Value(p, "processingMsPerEvent") > 0), "processing time");
            Assert.That(series.Select(p => p.GetProperty("at").GetDateTimeOffset()), Is.Ordered, "points in time order");
        });
    }

    private async Task<JsonElement> QueuesAsync()
    {
        using var response = await Api.Http.GetAsync(new Uri("/api/monitoring/queues", UriKind.Relative));
        return await ProducerApi.BodyAsync(response, 200);
    }

    private async Task<List<JsonElement>> SeriesAsync(string endpoint, string period)
    {
        using var response = await Api.Http.GetAsync(new Uri($"/api/monitoring/endpoints/{endpoint}/metrics?period={period}", UriKind.Relative));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        return [.. (await ProducerApi.BodyAsync(response, 200)).GetProperty("points").EnumerateArray()];
    }

    private static long Lag(JsonElement queues, string consumer) =>
        queues.GetProperty("consumers").EnumerateArray().Where(c => c.GetProperty("consumer").GetString() == consumer)
            .Select(c => c.GetProperty("lagEvents").GetInt64()).DefaultIfEmpty(-1).First();

    private static JsonElement Queue(JsonElement queues, string name) =>
        queues.GetProperty("queues").EnumerateArray().First(q => q.GetProperty("queue").GetString() == name);

    private static double Value(JsonElement point, string key) =>
        point.GetProperty("values").TryGetProperty(key, out var value) ? value.GetDouble() : 0;
}
