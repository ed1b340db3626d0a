using System.Diagnostics;

namespace EventReplay.Tests.Integration.Infrastructure;

public static class Scripts
{
    /// <summary>Runs one of the repository's eng/ scripts and fails with its error output when it fails.</summary>
    public static Task RunAsync(string script, params string[] arguments) => OutputAsync(script, arguments);

    /// <summary>Runs one of the repository's eng/ scripts and returns its standard output; fails with its error output when it fails.</summary>
    public static async Task<string> OutputAsync(string script, params string[] arguments)
    {
        var result = await ResultAsync(script, arguments);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"{script} {string.Join(' ', arguments)} failed ({result.ExitCode}): {result.Error}");
        }

        return result.Output;
    }

    /// <summary>Runs one of the repository's eng/ scripts and returns how it ended, for a test of the script's refusals.</summary>
    public static async Task<ScriptResult> ResultAsync(string script, params string[] arguments)
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
        return new ScriptResult(process.ExitCode, text, error);
    }
}

/// <summary>An eng/ script's exit code, standard output and error output.</summary>
public sealed record ScriptResult(int ExitCode, string Output, string Error);
