using System.Globalization;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>
/// Caps a process at a share of one CPU with a Linux control group (cgroup v1's <c>cpu</c> controller, or cgroup v2's
/// <c>cpu.max</c>): a service made as slow as it is on a machine busy with other work, without burning any CPU.
/// Creating a control group needs root; <see cref="TryApply"/> says why when it cannot.
/// </summary>
public sealed class CpuLimit : IDisposable
{
    private const long PeriodMicroseconds = 100_000;

    private readonly string _group;
    private readonly string _rootProcesses;
    private readonly int _processId;

    private CpuLimit(string group, string rootProcesses, int processId)
    {
        _group = group;
        _rootProcesses = rootProcesses;
        _processId = processId;
    }

    public static CpuLimit? TryApply(int processId, double share, out string? whyNot)
    {
        var quota = ((long)(PeriodMicroseconds * share)).ToString(CultureInfo.InvariantCulture);
        var period = PeriodMicroseconds.ToString(CultureInfo.InvariantCulture);
        whyNot = "no cgroup cpu controller under /sys/fs/cgroup";
        foreach (var (root, unified) in new[] { ("/sys/fs/cgroup/cpu", false), ("/sys/fs/cgroup", true) })
        {
            var usable = unified
                ? File.Exists(Path.Combine(root, "cgroup.subtree_control"))
                    && File.ReadAllText(Path.Combine(root, "cgroup.subtree_control")).Split(' ', '\n').Contains("cpu")
                : File.Exists(Path.Combine(root, "cpu.cfs_quota_us"));
            if (!usable)
            {
                continue;
            }

            var group = Path.Combine(root, $"eventreplay-tests-{processId}");
            try
            {
                Directory.CreateDirectory(group);
                if (unified)
                {
                    File.WriteAllText(Path.Combine(group, "cpu.max"), $"{quota} {period}");
                }
                else
                {
                    File.WriteAllText(Path.Combine(group, "cpu.cfs_period_us"), period);
                    File.WriteAllText(Path.Combine(group, "cpu.cfs_quota_us"), quota);
                }

                // Moves every thread of the process.
                File.WriteAllText(Path.Combine(group, "cgroup.procs"), processId.ToString(CultureInfo.InvariantCulture));
                whyNot = null;
                return new CpuLimit(group, Path.Combine(root, "cgroup.procs"), processId);
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
                whyNot = $"{group}: {exception.Message}";
                RemoveGroup(group);
            }
        }

        return null;
    }

    public void Dispose()
    {
        // A group is removed once it holds no process: move the process back (unless it has exited already).
        try
        {
            File.WriteAllText(_rootProcesses, _processId.ToString(CultureInfo.InvariantCulture));
        }
        catch (IOException)
        {
        }

        RemoveGroup(_group);
    }

    private static void RemoveGroup(string group)
    {
        try
        {
            Directory.Delete(group);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
        }
    }
}
