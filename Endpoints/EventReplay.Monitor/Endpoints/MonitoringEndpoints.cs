using System.Globalization;
using System.Text.RegularExpressions;
using EventReplay.Hosting;
using EventReplay.Monitor.Metrics;

namespace EventReplay.Monitor.Endpoints;

public static partial class MonitoringEndpoints
{
    /// <summary>The longest period a series can cover: what is kept.</summary>
    public static readonly TimeSpan MaxPeriod = MetricsStore.Keep;

    public static WebApplication MapMonitoring(this WebApplication monitor)
    {
        var app = monitor.MapGroup("").WithTags("Monitoring").RequireAuthorization(EventReplay.Security.Policies.Read);
        // Every process heard from in the last day, by endpoint: alive, missing (silent for 15 s) or stopped (said goodbye).
        app.MapGet("/api/monitoring/endpoints", async (EndpointStore store, TimeProvider clock, CancellationToken ct) =>
            {
                var now = clock.GetUtcNow();
                var instances = await store.ListAsync(ct);
                return TypedResults.Ok(new EndpointList([.. instances.Select(i => EndpointView.Of(i, now))]));
            })
            .WithName("listEndpoints").WithSummary("List the system's processes")
            .WithDescription("Every process heard from in the last day, by endpoint: `alive`, `missing` (silent for 15 s) or `stopped` "
                             + "(said goodbye), with its health checks.");

        // The latest sample (at most a minute old) of every queue and of every consumer's lag.
        app.MapGet("/api/monitoring/queues", async (MetricsStore store, TimeProvider clock, CancellationToken ct) =>
            {
                var (queues, lags) = await store.CurrentAsync(clock.GetUtcNow(), ct);
                return TypedResults.Ok(new QueueList([.. queues.Select(q => QueueView.Of(q.At, q.Queue))],
                    [.. lags.Select(l => new ConsumerLagView(l.Lag.Consumer, l.Lag.Head, l.Lag.Checkpoint, l.Lag.Lag, l.At))]));
            })
            .WithName("listQueues").WithSummary("Read queue depths and consumers' lag")
            .WithDescription("The latest sample (at most a minute old) of every queue and of every consumer's lag behind the event log.");

        // An endpoint's series over the last period (15m by default): a point per 5 s.
        app.MapGet("/api/monitoring/endpoints/{endpoint}/metrics", async (string endpoint, HttpRequest http, MetricsStore store,
            TimeProvider clock, CancellationToken ct) =>
        {
            var periods = http.Query["period"];
            var period = periods.Count == 0 ? TimeSpan.FromMinutes(15) : periods.Count == 1 ? ParsePeriod(periods[0]) : null;
            if (period is null)
            {
                return (IResult)TypedResults.ValidationProblem(new Dictionary<string, string[]>
                {
                    ["period"] = [$"period is a number and a unit (s, m or h), from 1m to {MaxPeriod.TotalHours:0}h: 15m, 1h, 24h."],
                }, title: "The request is invalid");
            }

            if (!await store.KnownAsync(endpoint, ct))
            {
                return TypedResults.Problem(statusCode: 404, title: "No such endpoint.", detail: $"Nothing was heard of endpoint {endpoint}.");
            }

            var now = clock.GetUtcNow();
            var points = await store.SeriesAsync(endpoint, now - period.Value, ct);
            return TypedResults.Ok(new MetricSeries(endpoint, periods.Count == 1 ? periods[0]! : "15m", now - period.Value, now, points));
        })
            .WithName("getEndpointMetrics").WithSummary("Read an endpoint's figures over time")
            .WithDescription("A point per 5 s over the last `period`: its figures summed over its instances, its lag and its live queue's length.")
            .Query("period", $"How far back: a number and a unit (s, m or h), from 1m to {MaxPeriod.TotalHours:0}h. Default 15m.")
            .Produces<MetricSeries>().ProducesValidationProblem().ProducesProblem(StatusCodes.Status404NotFound);
        return monitor;
    }

    /// <summary>"90s", "15m", "1h" … from one minute to <see cref="MaxPeriod"/>; null otherwise.</summary>
    public static TimeSpan? ParsePeriod(string? text)
    {
        if (text is null || PeriodPattern().Match(text) is not { Success: true } match
            || !int.TryParse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var count))
        {
            return null;
        }

        var period = match.Groups[2].Value switch
        {
            "s" => TimeSpan.FromSeconds(count),
            "m" => TimeSpan.FromMinutes(count),
            _ => TimeSpan.FromHours(count),
        };
        return period >= TimeSpan.FromMinutes(1) && period <= MaxPeriod ? period : null;
    }

    [GeneratedRegex("^([0-9]{1,5})(s|m|h)$")]
    private static partial Regex PeriodPattern();
}
