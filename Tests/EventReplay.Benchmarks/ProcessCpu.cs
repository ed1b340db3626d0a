using System.Globalization;

namespace EventReplay.Benchmarks;

/// <summary>
/// CPU time and resident memory of the system's processes, read from /proc and grouped by role (our services by
/// assembly, the servers by executable), so a run can say where the cores went.
/// </summary>
public sealed class ProcessCpu
{
    private static readonly double TicksPerSecond = 100.0; // USER_HZ on Linux

    private readonly Dictionary<int, (string Role, double Seconds)> _start;

    private ProcessCpu(Dictionary<int, (string Role, double Seconds)> start) => _start = start;

    public static ProcessCpu Start() => new(Snapshot());

    /// <summary>CPU seconds per role since <see cref="Start"/> (processes that started later count from zero).</summary>
    public IReadOnlyDictionary<string, double> Elapsed()
    {
        var totals = new SortedDictionary<string, double>(StringComparer.Ordinal);
        foreach (var (pid, (role, seconds)) in Snapshot())
        {
            var before = _start.TryGetValue(pid, out var start) && start.Role == role ? start.Seconds : 0;
            totals[role] = totals.GetValueOrDefault(role) + seconds - before;
        }

        return totals;
    }

    /// <summary>Resident memory in MiB per role, now (summed over a role's processes).</summary>
    public static IReadOnlyDictionary<string, double> ResidentMiB()
    {
        var totals = new SortedDictionary<string, double>(StringComparer.Ordinal);
        foreach (var pid in Pids())
        {
            if (Role(pid) is { } role && Read($"/proc/{pid}/statm") is { } statm)
            {
                var pages = long.Parse(statm.Split(' ')[1], CultureInfo.InvariantCulture);
                totals[role] = totals.GetValueOrDefault(role) + pages * Environment.SystemPageSize / 1048576.0;
            }
        }

        return totals;
    }

    private static Dictionary<int, (string, double)> Snapshot()
    {
        var result = new Dictionary<int, (string, double)>();
        foreach (var pid in Pids())
        {
            if (Role(pid) is not { } role || Read($"/proc/{pid}/stat") is not { } stat)
            {
                continue;
            }

            // Fields after the parenthesised command: state is field 3, utime 14, stime 15.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var ticks = double.Parse(fields[11], CultureInfo.InvariantCulture) + double.Parse(fields[12], CultureInfo.InvariantCulture);
            result[pid] = (role, ticks / TicksPerSecond);
        }

        return result;
    }

    private static IEnumerable<int> Pids() =>
        Directory.EnumerateDirectories("/proc").Select(Path.GetFileName).Where(name => name!.All(char.IsAsciiDigit)).Select(name => int.Parse(name!, CultureInfo.InvariantCulture));

    // A process's role never changes: each pid's command line is read once (sampling reads every process of the
    // machine, and that CPU is taken from the system under test).
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, string?> Roles = new();

    private static string? Role(int pid) => Roles.GetOrAdd(pid, RoleOf);

    private static string? RoleOf(int pid)
    {
        var cmdline = Read($"/proc/{pid}/cmdline")?.Replace('\0', ' ');
        if (string.IsNullOrEmpty(cmdline))
        {
            return null;
        }

        foreach (var service in new[] { "EventReplay.Producer", "EventReplay.Consumers.Balances", "EventReplay.Consumers.Statistics", "EventReplay.Gateway", "EventReplay.Replay" })
        {
            if (cmdline.Contains(service + ".dll", StringComparison.Ordinal))
            {
                return service.Replace("EventReplay.", "", StringComparison.Ordinal).Replace("Consumers.", "", StringComparison.Ordinal).ToLowerInvariant();
            }
        }

        var executable = Path.GetFileName(cmdline.Split(' ')[0]);
        return executable switch
        {
            _ when executable.StartsWith("postgres", StringComparison.Ordinal) => "postgresql",
            "beam.smp" => "rabbitmq",
            _ when executable.StartsWith("redis-server", StringComparison.Ordinal) => "redis",
            "haproxy" => "haproxy",
            _ when cmdline.Contains("EventReplay.Benchmarks", StringComparison.Ordinal) => "harness",
            _ => null,
        };
    }

    private static string? Read(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
