using System.Globalization;

namespace EventReplay.Benchmarks;

/// <summary>
/// The processes of one running system, each found by the TCP port it listens on (so never another system's process
/// on this machine: tests start the same programs on other ports), and sampled from /proc. A process that is killed
/// and restarted by its supervisor is found again as the new child of the same parent, before it listens. Each
/// PostgreSQL server is sampled as a group: its own processes and the backends of <c>database</c>, not those of other
/// databases.
/// </summary>
public sealed class SystemProcesses(IReadOnlyList<(string Role, int Port)> roles, IReadOnlyList<(string Role, int Port)> postgresServers,
    string database)
{
    private static readonly double TicksPerSecond = 100.0; // USER_HZ on Linux

    private readonly Lock _lock = new(); // the sampler and the killer ask at once
    private readonly Dictionary<string, Known> _known = [];
    private readonly Dictionary<(int Pid, long Start), double> _cpuBaseline = [];
    private readonly Dictionary<string, Dictionary<(int Pid, long Start), double>> _groupCpu = [];
    private bool _baselined;

    private sealed record Known(int Pid, long StartTicks, int Parent, string CommandLine);

    private sealed record Stat(char State, int Parent, double CpuSeconds, long StartTicks)
    {
        public bool Running => State != 'Z'; // a zombie is dead, only not yet reaped by its parent
    }

    public IEnumerable<string> Roles => roles.Concat(postgresServers).Select(r => r.Role);

    /// <summary>
    /// The process that has the role now, with its command line and its parent's (null when none is found: one that is
    /// starting up, say).
    /// </summary>
    public (int Pid, string CommandLine, string ParentCommandLine)? Find(string role)
    {
        lock (_lock)
        {
            return Resolve(role) is { } known ? (known.Pid, known.CommandLine, Read($"/proc/{known.Parent}/cmdline") ?? "") : null;
        }
    }

    /// <summary>One sample of every role found; CPU counts from the first call (for processes started later, from their start).</summary>
    public IReadOnlyList<ProcessSample> Sample(double seconds)
    {
        lock (_lock)
        {
            return SampleAll(seconds);
        }
    }

    private List<ProcessSample> SampleAll(double seconds)
    {
        var samples = new List<ProcessSample>();
        var found = ResolveAll(Roles);
        foreach (var (role, _) in roles)
        {
            if (found.TryGetValue(role, out var known) && ReadStat(known.Pid) is { } stat && ResidentMiB(known.Pid) is { } mib)
            {
                samples.Add(new ProcessSample(role, known.Pid, known.StartTicks, seconds, mib, stat.CpuSeconds - Baseline(known.Pid, stat)));
            }
        }

        foreach (var (postgres, _) in postgresServers)
        {
            if (!found.TryGetValue(postgres, out var postmaster) || ReadStat(postmaster.Pid) is not { } server)
            {
                continue;
            }

            // Summed as PSS: shared buffers are counted once, in shares, not once per process that touched them.
            var cpu = _groupCpu.TryGetValue(postgres, out var members) ? members : _groupCpu[postgres] = [];
            var mib = 0.0;
            foreach (var pid in PostgresMembers(postmaster.Pid))
            {
                if (ReadStat(pid) is { } stat && ProportionalMiB(pid) is { } pss)
                {
                    mib += pss;
                    cpu[(pid, stat.StartTicks)] = stat.CpuSeconds - Baseline(pid, stat);
                }
            }

            samples.Add(new ProcessSample(postgres, postmaster.Pid, server.StartTicks, seconds, mib, cpu.Values.Sum()));
        }

        _baselined = true;
        return samples;
    }

    // A process already running at the first sample counts its CPU from then; one that started later, all of it.
    private double Baseline(int pid, Stat stat)
    {
        if (!_cpuBaseline.TryGetValue((pid, stat.StartTicks), out var baseline))
        {
            baseline = _cpuBaseline[(pid, stat.StartTicks)] = _baselined ? 0 : stat.CpuSeconds;
        }

        return baseline;
    }

    private IEnumerable<int> PostgresMembers(int postmaster)
    {
        yield return postmaster;
        foreach (var pid in Pids())
        {
            if (ReadStat(pid)?.Parent == postmaster && ServesOurDatabase(Read($"/proc/{pid}/cmdline")?.Replace('\0', ' ').Trim() ?? ""))
            {
                yield return pid;
            }
        }
    }

    // A backend's title is "postgres: USER DATABASE HOST(PORT) STATE", an autovacuum worker's "postgres: autovacuum
    // worker DATABASE"; the rest (checkpointer, writers, launchers) serve every database.
    private bool ServesOurDatabase(string title)
    {
        var words = title.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (title.Contains('(', StringComparison.Ordinal) || title.Contains("[local]", StringComparison.Ordinal))
        {
            return words.Length > 2 && words[2] == database;
        }

        return words is not [_, "autovacuum", "worker", ..] || (words.Length > 3 && words[3] == database);
    }

    private Known? Resolve(string role) => ResolveAll([role]).GetValueOrDefault(role);

    /// <summary>
    /// Each role's process now: the one known if it still runs; under a supervisor that is still there, its new child
    /// with the same command line (none yet while the supervisor waits to restart it); else whoever listens on the
    /// role's port, all of those found in one scan of every process's sockets (the costly part of a sample).
    /// </summary>
    private Dictionary<string, Known> ResolveAll(IEnumerable<string> wanted)
    {
        var resolved = new Dictionary<string, Known>();
        var unknown = new List<string>();
        foreach (var role in wanted)
        {
            if (!_known.TryGetValue(role, out var known))
            {
                unknown.Add(role);
            }
            else if (ReadStat(known.Pid) is { Running: true } now && now.StartTicks == known.StartTicks)
            {
                resolved[role] = known;
            }
            else if (ReadStat(known.Parent) is { Running: true } && IsSupervisor(known.Parent))
            {
                var child = Pids().FirstOrDefault(pid => ReadStat(pid) is { Running: true } stat && stat.Parent == known.Parent
                    && Read($"/proc/{pid}/cmdline") == known.CommandLine);
                if (child != 0 && Remember(role, child) is { } successor)
                {
                    resolved[role] = successor;
                }
            }
            else
            {
                unknown.Add(role);
            }
        }

        if (unknown.Count > 0)
        {
            var listeners = Listeners([.. unknown.Select(PortOf)]);
            foreach (var role in unknown)
            {
                if (listeners.TryGetValue(PortOf(role), out var pid) && Remember(role, pid) is { } listener)
                {
                    resolved[role] = listener;
                }
            }
        }

        return resolved;
    }

    private int PortOf(string role) => roles.Concat(postgresServers).First(r => r.Role == role).Port;

    private Known? Remember(string role, int pid) =>
        ReadStat(pid) is { Running: true } stat ? _known[role] = new Known(pid, stat.StartTicks, stat.Parent, Read($"/proc/{pid}/cmdline") ?? "") : null;

    private static bool IsSupervisor(int pid) => Read($"/proc/{pid}/cmdline")?.Contains("supervise.sh", StringComparison.Ordinal) == true;

    /// <summary>Whether the process is still there (a zombie, dead but not yet reaped, is not).</summary>
    public static bool Alive(int pid) => ReadStat(pid) is { Running: true };

    /// <summary>
    /// For each port, the process holding a socket that listens on it (the parent, when it shares it with children).
    /// </summary>
    private static Dictionary<int, int> Listeners(HashSet<int> ports)
    {
        var sockets = new Dictionary<string, int>();
        foreach (var table in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            foreach (var line in (Read(table) ?? "").Split('\n').Skip(1))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                // local_address is HEXIP:HEXPORT; state 0A is LISTEN; the inode is the tenth field.
                if (fields.Length > 9 && fields[3] == "0A"
                    && int.Parse(fields[1].Split(':')[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture) is var port && ports.Contains(port))
                {
                    sockets[$"socket:[{fields[9]}]"] = port;
                }
            }
        }

        var holders = new Dictionary<int, List<int>>();
        if (sockets.Count > 0)
        {
            foreach (var pid in Pids())
            {
                foreach (var port in HeldPorts(pid, sockets))
                {
                    (holders.TryGetValue(port, out var pids) ? pids : holders[port] = []).Add(pid);
                }
            }
        }

        return holders.ToDictionary(h => h.Key, h => h.Value.FirstOrDefault(pid => !h.Value.Contains(ReadStat(pid)?.Parent ?? 0), h.Value[0]));
    }

    private static IEnumerable<int> HeldPorts(int pid, Dictionary<string, int> sockets)
    {
        try
        {
            return Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd")
                .Select(fd => new FileInfo(fd).LinkTarget is { } target && sockets.TryGetValue(target, out var port) ? port : 0)
                .Where(port => port != 0).Distinct().ToList();
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return []; // the process ended, or is not ours to look into
        }
    }

    private static Stat? ReadStat(int pid)
    {
        if (Read($"/proc/{pid}/stat") is not { } stat)
        {
            return null;
        }

        // Fields after the parenthesised command: state, ppid, …, utime (12th), stime (13th), …, starttime (20th).
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        double Number(int field) => double.Parse(fields[field], CultureInfo.InvariantCulture);
        return new Stat(fields[0][0], int.Parse(fields[1], CultureInfo.InvariantCulture), (Number(11) + Number(12)) / TicksPerSecond,
            long.Parse(fields[19], CultureInfo.InvariantCulture));
    }

    private static double? ResidentMiB(int pid) =>
        Read($"/proc/{pid}/statm") is { } statm ? long.Parse(statm.Split(' ')[1], CultureInfo.InvariantCulture) * Environment.SystemPageSize / 1048576.0 : null;

    private static double? ProportionalMiB(int pid)
    {
        var line = Read($"/proc/{pid}/smaps_rollup")?.Split('\n').FirstOrDefault(l => l.StartsWith("Pss:", StringComparison.Ordinal));
        return line is null ? null : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
    }

    private static IEnumerable<int> Pids() =>
        Directory.EnumerateDirectories("/proc").Select(Path.GetFileName).Where(name => name!.All(char.IsAsciiDigit))
            .Select(name => int.Parse(name!, CultureInfo.InvariantCulture));

    private static string? Read(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
