using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using EventReplay.Testing;

namespace EventReplay.Benchmarks;

/// <summary>How the run was set up, and the machine's load average (1, 5, 15 min) when it started and ended.</summary>
public sealed record SoakSetup(DateTimeOffset Started, double Minutes, double CommandsPerSecond, int Workers, int AccountsPerWorker, int CloseAfter,
    double AccountReadPaceMs, int Readers, double ReadsPerSecond, double RebuildEverySeconds, double KillEverySeconds, double SampleEverySeconds,
    int Cores, string LoadAverageAtStart, string LoadAverageAtEnd, string Database);

/// <summary>What a soak run measured and found; it passed when <see cref="Failures"/> is empty.</summary>
public sealed record SoakReport(SoakSetup Setup, double LoadSeconds, double? DrainSeconds, string? DrainError, long Acknowledged,
    double CommandsPerSecond, IReadOnlyList<long> AcknowledgedPerMinute, string Clients, string? LoadFailure, TrafficSummary Traffic,
    IReadOnlyList<Lifetime> Memory, IReadOnlyList<RebuildRun> Rebuilds, IReadOnlyList<KillRun> Kills, IReadOnlyList<InvariantCheck> Checks)
{
    /// <summary>Failed invariants, rebuilds that did not complete, kills the system did not recover from, a load or drain that failed.</summary>
    public IReadOnlyList<string> Failures =>
    [
        .. Checks.Where(c => !c.Holds).Select(c => $"invariant: {c.Name}"),
        .. Rebuilds.Where(r => !r.Completed).Select(r => $"rebuild {r.Number} of {r.Target}: {r.Status}"),
        .. Kills.Where(k => !k.Recovered).Select(k => $"kill {k.Number} of {k.Role}: {k.Error}"),
        .. LoadFailure is null ? Array.Empty<string>() : [$"load: {LoadFailure}"],
        .. DrainError is null ? Array.Empty<string>() : [$"drain: {DrainError}"],
    ];

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals, // NaN percentiles of a route with no answers
    };

    /// <summary>Writes latest.json, latest.md and samples.csv (every process sample) to <paramref name="directory"/>, and prints the Markdown.</summary>
    public static async Task WriteAsync(SoakReport report, IReadOnlyList<ProcessSample> samples, string directory)
    {
        Directory.CreateDirectory(directory);
        var markdown = report.ToMarkdown();
        await File.WriteAllTextAsync(Path.Combine(directory, "latest.json"), JsonSerializer.Serialize(report, Json));
        await File.WriteAllTextAsync(Path.Combine(directory, "latest.md"), markdown);
        await File.WriteAllLinesAsync(Path.Combine(directory, "samples.csv"),
            samples.Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.Role},{s.Pid},{s.Seconds:F1},{s.ResidentMiB:F1},{s.CpuSeconds:F2}"))
                .Prepend("role,pid,seconds,resident_mib,cpu_seconds"));
        Console.WriteLine();
        Console.Write(markdown);
    }

    public string ToMarkdown()
    {
        var md = new StringBuilder();
        void Line(params FormattableString[] parts) => md.AppendLine(string.Concat(parts.Select(part => part.ToString(CultureInfo.InvariantCulture))));

        var s = Setup;
        Line($"## Soak: {s.Minutes:0.#} minutes from {s.Started:yyyy-MM-dd HH:mm} UTC: {(Failures.Count == 0 ? "passed" : "FAILED")}");
        Line($"");
        Line($"{s.Workers} command workers ({s.AccountsPerWorker} accounts each, an account closed and replaced after {s.CloseAfter} commands) ",
            $"paced to {s.CommandsPerSecond:0.#} commands/s, every command with an Idempotency-Key and repeated after a 5xx or a lost connection; ",
            $"an account reader (one account of each worker every {s.AccountReadPaceMs:0} ms) and {s.Readers} readers of statistics, ",
            $"event pages and replays ({s.ReadsPerSecond:0.#} reads/s), all through the load balancer. A rebuild every {s.RebuildEverySeconds:0} s ",
            $"(balances and statistics in turn), a consumer killed with SIGKILL every {s.KillEverySeconds:0} s (the same), processes sampled ",
            $"every {s.SampleEverySeconds:0} s. {s.Cores} cores shared by everything; load average {s.LoadAverageAtStart} at the start, ",
            $"{s.LoadAverageAtEnd} at the end. Database {s.Database}.");
        Line($"");
        foreach (var failure in Failures)
        {
            Line($"- **{failure}**");
        }

        Line($"### Invariants (after the load stopped and the pipeline drained)");
        Line($"");
        Line($"| check | holds | detail |");
        Line($"|---|---|---|");
        foreach (var check in Checks)
        {
            Line($"| {check.Name} | {(check.Holds ? "yes" : "**NO**")} | {Cell(check.Detail)} |");
        }

        Line($"");
        Line($"### Commands");
        Line($"");
        Line($"{Acknowledged:N0} commands acknowledged in {LoadSeconds:F0} s = {CommandsPerSecond:F1}/s; per minute: {string.Join(", ", AcknowledgedPerMinute)}. ",
            $"Clients: {Clients}. Drained {(DrainSeconds is { } drained ? $"{drained:F1} s after the load stopped" : $"NOT: {DrainError}")}.");
        if (LoadFailure is not null)
        {
            Line($"The load failed: {LoadFailure}");
        }

        Line($"");
        Line($"### Requests by route and status");
        Line($"");
        Line($"Errors are 5xx answers and requests with no answer; a kill window lasts from a kill until 2 s after the killed consumer answered ready again.");
        Line($"");
        Line($"| route | requests | statuses | errors in kill windows | errors outside | p50 ms | p95 ms | p99 ms | max ms |");
        Line($"|---|---|---|---|---|---|---|---|---|");
        foreach (var route in Traffic.Routes)
        {
            var statuses = string.Join(", ", route.Statuses.Select(p => $"{p.Key}: {p.Value:N0}"));
            var l = route.LatencyMs;
            Line($"| `{route.Route}` | {route.Requests:N0} | {statuses} | {route.ErrorsInKillWindows} | {route.ErrorsOutside} | {l.P50:F1} | {l.P95:F1} | {l.P99:F1} | {l.Max:F1} |");
        }

        Line($"| all | {Traffic.Requests:N0} | | {Traffic.ErrorsInKillWindows} | {Traffic.ErrorsOutside} | | | | |");
        Line($"");
        Line($"### Rebuilds");
        Line($"");
        Line($"| # | target | requested at | status | took (requested to completed) | events | error |");
        Line($"|---|---|---|---|---|---|---|");
        foreach (var r in Rebuilds)
        {
            Line($"| {r.Number} | {r.Target} | {Clock(r.RequestedAt)} | {r.Status} | {(r.Seconds is { } t ? $"{t:F1} s" : "–")} | {r.EventsTotal:N0} | {Cell(r.Error ?? "")} |");
        }

        Line($"");
        Line($"### Kills (SIGKILL; eng/supervise.sh starts the process again)");
        Line($"");
        Line($"Ready again: from the SIGKILL until the successor's /health/ready answers (the supervisor's 1 s before a restart and the service's start and warm-up).");
        Line($"");
        Line($"| # | consumer | at | pid → new pid | ready again after | error |");
        Line($"|---|---|---|---|---|---|");
        foreach (var k in Kills)
        {
            Line($"| {k.Number} | {k.Role} | {Clock(k.At)} | {k.Pid} → {k.NewPid} | {(k.ReadyAfter is { } t ? $"{t:F1} s" : "–")} | {Cell(k.Error ?? "")} |");
        }

        Line($"");
        Line($"### Memory and CPU per process");
        Line($"");
        Line($"Resident memory (RSS; PostgreSQL: the proportional share, PSS, of the server's processes and of this database's backends). ",
            $"A killed process's successor is a lifetime of its own, counted from its restart. The slope is the least-squares trend ",
            $"over a lifetime's samples after its first minute. PostgreSQL, RabbitMQ and Redis are the machine's shared servers: ",
            $"other databases, vhosts and Redis databases may be in use at the same time. CPU counts from the start of the run ",
            $"(of the lifetime, for a restarted process), as % of one core over the lifetime.");
        Line($"");
        Line($"| process | pid | from – to | samples | start MiB | peak MiB | end MiB | slope MiB/h | CPU s | CPU % |");
        Line($"|---|---|---|---|---|---|---|---|---|---|");
        foreach (var m in Memory)
        {
            var name = m.Restarted ? $"{m.Role} (restarted)" : m.Role;
            var slope = m.SlopeMiBPerHour is { } perHour ? $"{perHour:+0.0;-0.0;0.0}" : "–";
            var cpuShare = m.To > m.From ? $"{m.CpuSeconds / (m.To - m.From) * 100:F0}" : "–";
            Line($"| {name} | {m.Pid} | {Clock(m.From)} – {Clock(m.To)} | {m.Samples} | {m.StartMiB:F0} | {m.PeakMiB:F0} | {m.EndMiB:F0} | {slope} | {m.CpuSeconds:F0} | {cpuShare} |");
        }

        return md.ToString();
    }

    /// <summary>Minutes and seconds since the run started, to a tenth, e.g. 3:05.2 (and 359.98 s is 6:00.0, not 5:60.0).</summary>
    public static string Clock(double seconds)
    {
        var tenths = (long)Math.Round(seconds * 10, MidpointRounding.AwayFromZero);
        return string.Create(CultureInfo.InvariantCulture, $"{tenths / 600}:{tenths % 600 / 10.0:00.0}");
    }

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}
