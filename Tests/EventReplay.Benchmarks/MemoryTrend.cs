namespace EventReplay.Benchmarks;

/// <summary>
/// One sample of one system process: <paramref name="Seconds"/> since the run started, its pid and start time (a
/// restarted process is a new lifetime), resident memory in MiB and the CPU seconds it used since the run started (since
/// it started, if later).
/// </summary>
public sealed record ProcessSample(string Role, int Pid, long StartTicks, double Seconds, double ResidentMiB, double CpuSeconds);

/// <summary>
/// A process's memory over one lifetime: from its first sample (its restart, for a process that was killed) to its
/// last; the slope is the least-squares trend in MiB per hour over the samples after its first minute, when the
/// heap has grown to its working size (null when fewer than two samples are that late).
/// </summary>
public sealed record Lifetime(string Role, int Pid, bool Restarted, double From, double To, int Samples, double StartMiB, double PeakMiB,
    double EndMiB, double? SlopeMiBPerHour, double CpuSeconds);

public static class MemoryTrend
{
    public static readonly TimeSpan Settling = TimeSpan.FromMinutes(1);

    /// <summary>Each process lifetime's memory figures, in the order the roles were first sampled, then by start.</summary>
    public static IReadOnlyList<Lifetime> Lifetimes(IEnumerable<ProcessSample> samples)
    {
        var lifetimes = new List<Lifetime>();
        foreach (var role in samples.GroupBy(s => s.Role))
        {
            var first = true;
            foreach (var life in role.GroupBy(s => (s.Pid, s.StartTicks)).OrderBy(g => g.Min(s => s.Seconds)))
            {
                var series = life.OrderBy(s => s.Seconds).ToList();
                var from = series[0].Seconds;
                var late = series.Where(s => s.Seconds >= from + Settling.TotalSeconds).Select(s => (s.Seconds, s.ResidentMiB)).ToList();
                lifetimes.Add(new Lifetime(role.Key, life.Key.Pid, !first, from, series[^1].Seconds, series.Count, series[0].ResidentMiB,
                    series.Max(s => s.ResidentMiB), series[^1].ResidentMiB, Slope(late) * 3600, series[^1].CpuSeconds));
                first = false;
            }
        }

        return lifetimes;
    }

    /// <summary>The least-squares slope of y over x (null for fewer than two points or a single x).</summary>
    public static double? Slope(IReadOnlyList<(double X, double Y)> points)
    {
        if (points.Count < 2)
        {
            return null;
        }

        var meanX = points.Average(p => p.X);
        var meanY = points.Average(p => p.Y);
        var spread = points.Sum(p => (p.X - meanX) * (p.X - meanX));
        return spread == 0 ? null : points.Sum(p => (p.X - meanX) * (p.Y - meanY)) / spread;
    }
}
