using EventReplay.Benchmarks;
using EventReplay.Testing;

namespace EventReplay.Tests.Unit.Soak;

/// <summary>The arithmetic behind eng/soak.sh's report: memory slopes per process lifetime, percentiles, requests by status.</summary>
public class SoakFiguresTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

    [Test]
    public void The_slope_is_the_least_squares_line_through_the_points()
    {
        // y = 2x + 1 with noise (+½, -½, -½, +½) that is orthogonal to x, so leaves the fit unchanged.
        var slope = MemoryTrend.Slope([(0, 1.5), (1, 2.5), (2, 4.5), (3, 7.5)]);

        Assert.That(slope, Is.EqualTo(2.0).Within(1e-9));
    }

    [Test]
    public void There_is_no_slope_through_fewer_than_two_points_or_a_single_x()
    {
        Assert.Multiple(() =>
        {
            Assert.That(MemoryTrend.Slope([]), Is.Null);
            Assert.That(MemoryTrend.Slope([(5, 100)]), Is.Null);
            Assert.That(MemoryTrend.Slope([(5, 100), (5, 200)]), Is.Null);
        });
    }

    [Test]
    public void Memory_grows_in_mib_per_hour_counted_after_the_first_minute_of_a_lifetime()
    {
        // A process that doubles its memory in its first minute (warming up), then grows 1 MiB a minute.
        var samples = Enumerable.Range(0, 21).Select(i => i * 15.0)
            .Select(t => Sample("producer", 10, 1, t, t < 60 ? 100 + t * 100 / 60 : 200 + (t - 60) / 60, cpu: t / 10))
            .ToList();

        var life = MemoryTrend.Lifetimes(samples).Single();

        Assert.Multiple(() =>
        {
            Assert.That(life.SlopeMiBPerHour, Is.EqualTo(60).Within(1e-6));
            Assert.That((life.StartMiB, life.PeakMiB, life.EndMiB), Is.EqualTo((100.0, 204.0, 204.0)));
            Assert.That((life.From, life.To, life.Samples), Is.EqualTo((0.0, 300.0, 21)));
            Assert.That(life.CpuSeconds, Is.EqualTo(30));
            Assert.That(life.Restarted, Is.False);
        });
    }

    [Test]
    public void A_restarted_process_is_a_lifetime_of_its_own_counted_from_its_restart()
    {
        // Killed at 100 s: the old pid's last sample is at 95 s, its successor's first at 105 s, starting small again.
        var samples = new List<ProcessSample>();
        for (var t = 0.0; t <= 300; t += 5)
        {
            if (t < 100)
            {
                samples.Add(Sample("balances", 41, 7, t, 150, cpu: 1));
            }
            else if (t >= 105)
            {
                samples.Add(Sample("balances", 77, 9, t, 30 + (t - 105), cpu: 2));
            }

            samples.Add(Sample("replay", 42, 8, t, 180, cpu: 3));
        }

        var lifetimes = MemoryTrend.Lifetimes(samples);

        Assert.Multiple(() =>
        {
            Assert.That(lifetimes.Select(l => (l.Role, l.Pid, l.Restarted)),
                Is.EqualTo(new[] { ("balances", 41, false), ("balances", 77, true), ("replay", 42, false) }));
            var first = lifetimes[0];
            Assert.That((first.From, first.To, first.StartMiB, first.EndMiB), Is.EqualTo((0.0, 95.0, 150.0, 150.0)));
            Assert.That(first.SlopeMiBPerHour, Is.EqualTo(0).Within(1e-9), "flat from 60 s to its end at 95 s");
            var second = lifetimes[1];
            Assert.That((second.From, second.StartMiB, second.PeakMiB), Is.EqualTo((105.0, 30.0, 225.0)));
            Assert.That(second.SlopeMiBPerHour, Is.EqualTo(3600).Within(1e-6), "1 MiB a second, after its own first minute");
            Assert.That(lifetimes[2].SlopeMiBPerHour, Is.EqualTo(0).Within(1e-9));
        });
    }

    [Test]
    public void A_pid_used_again_by_a_later_process_is_another_lifetime()
    {
        var samples = new[] { Sample("statistics", 5, 100, 0, 50), Sample("statistics", 5, 100, 5, 60), Sample("statistics", 5, 900, 10, 20) };

        Assert.That(MemoryTrend.Lifetimes(samples).Select(l => l.EndMiB), Is.EqualTo(new[] { 60.0, 20.0 }));
    }

    [Test]
    public void Percentiles_are_nearest_rank()
    {
        var values = Enumerable.Range(1, 200).Select(i => (double)i).Reverse().ToList();

        var p = Percentiles.Of(values);

        Assert.That((p.P50, p.P95, p.P99, p.Max), Is.EqualTo((100.0, 190.0, 198.0, 200.0)));
    }

    [Test]
    public void Percentiles_of_one_value_are_that_value_and_of_none_are_not_a_number()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Percentiles.Of([7.5]), Is.EqualTo(new Percentiles(7.5, 7.5, 7.5, 7.5, 7.5)));
            Assert.That(double.IsNaN(Percentiles.Of([]).P50), Is.True);
        });
    }

    [Test]
    public void Requests_count_per_route_and_status_with_errors_inside_and_outside_kill_windows()
    {
        var windows = new[] { new KillWindow(60, 70) };
        var attempts = new[]
        {
            Tried(CommandLoad.ReadRoute, 200, 10, 4), Tried(CommandLoad.ReadRoute, 200, 20, 6),
            Tried(CommandLoad.ReadRoute, 502, 61, 1), Tried(CommandLoad.ReadRoute, Attempt.NoResponse, 70, 30_000),
            Tried(CommandLoad.ReadRoute, 503, 71, 2), Tried(CommandLoad.ReadRoute, 404, 65, 3),
            Tried(CommandLoad.DepositRoute, 200, 65, 8), Tried(CommandLoad.DepositRoute, 409, 90, 9),
            Tried("GET /api/other", 200, 1, 1),
        };

        var summary = Traffic.Summarize(attempts, Start, windows, [CommandLoad.DepositRoute, CommandLoad.ReadRoute]);

        Assert.Multiple(() =>
        {
            Assert.That(summary.Routes.Select(r => r.Route), Is.EqualTo(new[] { CommandLoad.DepositRoute, CommandLoad.ReadRoute, "GET /api/other" }),
                "the given order first, then the rest by name");
            var reads = summary.Routes[1];
            Assert.That(reads.Requests, Is.EqualTo(6));
            Assert.That(reads.Statuses, Is.EqualTo(new Dictionary<string, long> { ["no response"] = 1, ["200"] = 2, ["404"] = 1, ["502"] = 1, ["503"] = 1 }));
            Assert.That((reads.ErrorsInKillWindows, reads.ErrorsOutside), Is.EqualTo((2L, 1L)), "502 at 61 s and no response at 70 s inside; 503 at 71 s outside");
            Assert.That(reads.LatencyMs.Max, Is.EqualTo(6), "answered requests only: no response is not a latency");
            Assert.That(summary.Routes[0].ErrorsInKillWindows + summary.Routes[0].ErrorsOutside, Is.Zero, "a 409 is an answer, not an error");
            Assert.That((summary.Requests, summary.ErrorsInKillWindows, summary.ErrorsOutside, summary.Errors), Is.EqualTo((9L, 2L, 1L, 3L)));
        });
    }

    [Test]
    public void Acknowledged_commands_count_per_whole_minute_of_the_run()
    {
        var attempts = new[] { 5.0, 59.9, 60.0, 119, 130, 179.9, 180.5 }.Select(t => Tried(CommandLoad.DepositRoute, 200, t, 1))
            .Append(Tried(CommandLoad.DepositRoute, 503, 10, 1));

        var perMinute = Traffic.PerMinute(attempts, Start, 180.5, a => a.Status == 200);

        Assert.That(perMinute, Is.EqualTo(new long[] { 2, 2, 2 }), "the part-minute at the end (180.5 s) is left out");
    }

    [Test]
    public void Clock_shows_minutes_and_seconds()
    {
        Assert.That((SoakReport.Clock(0), SoakReport.Clock(185.2), SoakReport.Clock(359.98)), Is.EqualTo(("0:00.0", "3:05.2", "6:00.0")));
    }

    private static ProcessSample Sample(string role, int pid, long start, double seconds, double mib, double cpu = 0) =>
        new(role, pid, start, seconds, mib, cpu);

    private static Attempt Tried(string route, int status, double seconds, double milliseconds) =>
        new(route, status, Start.AddSeconds(seconds), milliseconds);
}
