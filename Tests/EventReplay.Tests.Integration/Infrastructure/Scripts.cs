using System.Diagnostics;

namespace EventReplay.Tests.Integration.Infrastructure;

public static class Scripts
{
    /// <summary>Runs one of the repository's eng/ scripts and fails with its error output when it fails.</summary>
    public static Task RunAsync(string script, params string[] arguments) => OutputAsync(script, arguments);

    /// <summary>Runs one of the repository's eng/ scripts and returns its standard output; fails with its error output when it fails.</summary>
    public static async Task<string> OutputAsync(string script, params string[] arguments)
    {
        using var process = Process.Start(new ProcessStartInfo("bash", [Path.Combine(TestEnvironment.RepoRoot, "eng", script), .. arguments])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        })!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = await process.StandardError.ReadToEndAsync();
        var text = await output;
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{script} {string.Join(' ', arguments)} failed ({process.ExitCode}): {error}");
        }

        return text;
    }
}
