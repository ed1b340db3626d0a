using System.Collections.Concurrent;
using System.Globalization;
using EventReplay.Testing;

namespace EventReplay.Benchmarks;

/// <summary>From a kill to a little after the killed process answered ready again, in seconds since the run started.</summary>
public sealed record KillWindow(double From, double To)
{
    public bool Contains(double seconds) => seconds >= From && seconds <= To;
}

/// <summary>
/// One route's requests: the count per status ("no response" for a connection that failed or timed out), errors (5xx
/// and no response) inside and outside kill windows, and the latency of the answered ones.
/// </summary>
public sealed record RouteTraffic(string Route, long Requests, IReadOnlyDictionary<string, long> Statuses, long ErrorsInKillWindows,
    long ErrorsOutside, Percentiles LatencyMs);

public sealed record TrafficSummary(IReadOnlyList<RouteTraffic> Routes, long ErrorsInKillWindows, long ErrorsOutside)
{
    public long Requests => Routes.Sum(r => r.Requests);

    public long Errors => ErrorsInKillWindows + ErrorsOutside;
}

/// <summary>Every HTTP attempt a run made, and what they add up to.</summary>
public sealed class Traffic
{
    public const string NoResponse = "no response";

    private readonly ConcurrentQueue<Attempt> _attempts = new();

    public IReadOnlyCollection<Attempt> Attempts => _attempts;

    public void Add(Attempt attempt) => _attempts.Enqueue(attempt);

    public static bool IsError(int status) => status == Attempt.NoResponse || status >= 500;

    public static string StatusName(int status) => status == Attempt.NoResponse ? NoResponse : status.ToString(CultureInfo.InvariantCulture);

    /// <summary>Per route (in <paramref name="order"/>, then the rest by name); an error counts in a kill window if it ended in one.</summary>
    public static TrafficSummary Summarize(IEnumerable<Attempt> attempts, DateTimeOffset start, IReadOnlyList<KillWindow> windows,
        IReadOnlyList<string>? order = null)
    {
        bool InKillWindow(Attempt a) => windows.Any(w => w.Contains((a.Ended - start).TotalSeconds));
        var routes = attempts.GroupBy(a => a.Route)
            .OrderBy(g => order?.Contains(g.Key) == true ? order.ToList().IndexOf(g.Key) : int.MaxValue).ThenBy(g => g.Key, StringComparer.Ordinal)
            .Select(g =>
            {
                var errors = g.Where(a => IsError(a.Status)).ToList();
                var inWindows = errors.Count(InKillWindow);
                return new RouteTraffic(g.Key, g.LongCount(),
                    g.GroupBy(a => a.Status).OrderBy(s => s.Key).ToDictionary(s => StatusName(s.Key), s => s.LongCount()),
                    inWindows, errors.Count - inWindows,
                    Percentiles.Of([.. g.Where(a => a.Status != Attempt.NoResponse).Select(a => a.Milliseconds)]));
            }).ToList();
        return new TrafficSummary(routes, routes.Sum(r => r.ErrorsInKillWindows), routes.Sum(r => r.ErrorsOutside));
    }

    /// <summary>How many attempts that <paramref name="count"/> selects ended in each whole minute of a run of <paramref name="seconds"/>.</summary>
    public static IReadOnlyList<long> PerMinute(IEnumerable<Attempt> attempts, DateTimeOffset start, double seconds, Func<Attempt, bool> count)
    {
        var minutes = new long[Math.Max(1, (int)(seconds / 60))];
        foreach (var attempt in attempts.Where(count))
        {
            var minute = (int)((attempt.Ended - start).TotalSeconds / 60);
            if (minute >= 0 && minute < minutes.Length)
            {
                minutes[minute]++;
            }
        }

        return minutes;
    }
}
