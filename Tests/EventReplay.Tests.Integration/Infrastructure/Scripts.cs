using System.Diagnostics;

namespace EventReplay.Tests.Integration.Infrastructure;

public static class Scripts
{
    // Longer than any script takes here (a restore of a million events: under a minute).
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(10);

    /// <summary>Runs one of the repository's eng/ scripts and fails with its error output when it fails.</summary>
    public static Task RunAsync(string script, params string[] arguments) => OutputAsync(script, arguments);

    /// <summary>Runs one of the repository's eng/ scripts and returns its standard output; fails with its error output when it fails.</summary>
    public static Task<string> OutputAsync(string script, params string[] arguments) => OutputAsync(new Dictionary<string, string>(), script, arguments);

    /// <summary>As <see cref="OutputAsync(string, string[])"/>, with variables added to the script's environment.</summary>
    public static async Task<string> OutputAsync(IReadOnlyDictionary<string, string> environment, string script, params string[] arguments)
    {
        var result = await ResultAsync(environment, script, arguments);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"{script} {string.Join(' ', arguments)} failed ({result.ExitCode}): {result.Error}");
        }

        return result.Output;
    }

    /// <summary>Runs one of the repository's eng/ scripts and returns how it ended, for a test of the script's refusals.</summary>
    public static Task<ScriptResult> ResultAsync(string script, params string[] arguments) => ResultAsync(new Dictionary<string, string>(), script, arguments);

    private static async Task<ScriptResult> ResultAsync(IReadOnlyDictionary<string, string> environment, string script, params string[] arguments)
    {
        var start = new ProcessStartInfo("bash", [Path.Combine(TestEnvironment.RepoRoot, "eng", script), .. arguments])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(Limit);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            // A script that hangs would hold the whole suite: it ends here, with what it printed so far.
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{script} {string.Join(' ', arguments)} did not end within {Limit.TotalMinutes:0} min: "
                + $"{await output}{await error}");
        }

        return new ScriptResult(process.ExitCode, await output, await error);
    }
}

/// <summary>An eng/ script's exit code, standard output and error output.</summary>
public sealed record ScriptResult(int ExitCode, string Output, string Error);
