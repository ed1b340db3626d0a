using System.Diagnostics;
using System.Globalization;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>Signals sent to a process from outside, as an operator's <c>kill</c> would, and whether a process still runs.</summary>
public static class Signals
{
    /// <summary>Sends <paramref name="signal"/> (a name such as KILL or TERM) to <paramref name="pid"/> with kill(1).</summary>
    public static async Task SendAsync(int pid, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-s", signal, pid.ToString(CultureInfo.InvariantCulture)])
        {
            RedirectStandardError = true,
        })!;
        var error = await kill.StandardError.ReadToEndAsync();
        await kill.WaitForExitAsync();
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -s {signal} {pid} failed ({kill.ExitCode}): {error}");
        }
    }

    /// <summary>True while the process exists and is not a zombie (exited, waiting for its parent to collect it).</summary>
    public static bool IsRunning(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (IOException)
        {
            return false;
        }

        // The state follows the command name, which is in parentheses and may itself contain spaces or parentheses.
        var state = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0];
        return state != "Z" && state != "X";
    }
}
