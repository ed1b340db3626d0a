using System.Diagnostics;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>One of our services run as a real process on a free loopback port, its output kept in a log file.</summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    private readonly string _project;
    private readonly IReadOnlyDictionary<string, string> _environment;
    private readonly string _logPath;
    private Process? _process;

    public ServiceProcess(string project, IReadOnlyDictionary<string, string> environment, int? port = null)
    {
        _project = project;
        _environment = environment;
        Port = port ?? TestEnvironment.FreePort();
        BaseAddress = new Uri($"http://127.0.0.1:{Port}");
        _logPath = Path.Combine(TestEnvironment.LogDirectory, $"{project}-{Port}.log");
    }

    public int Port { get; }

    public Uri BaseAddress { get; }

    /// <summary>The running process's id.</summary>
    public int ProcessId => _process?.Id ?? throw new InvalidOperationException($"{_project} is not running.");

    public HttpClient CreateClient() => new() { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };

    public async Task StartAsync()
    {
        var assembly = TestEnvironment.ServiceAssembly(_project);
        if (!File.Exists(assembly))
        {
            throw new FileNotFoundException($"{assembly} is not built; run eng/test.sh or dotnet build first.");
        }

        var start = new ProcessStartInfo("dotnet", [assembly])
        {
            WorkingDirectory = Path.GetDirectoryName(assembly)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["ASPNETCORE_URLS"] = BaseAddress.ToString();
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        foreach (var (name, value) in _environment)
        {
            start.Environment[name] = value;
        }

        var log = new StreamWriter(_logPath, append: true) { AutoFlush = true };
        await log.WriteLineAsync($"---- start {DateTimeOffset.UtcNow:O}");
        _process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {_project}.");
        _process.OutputDataReceived += (_, line) => Write(log, line.Data);
        _process.ErrorDataReceived += (_, line) => Write(log, line.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        using var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(2) };
        await Eventually.Until(async () =>
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{_project} exited with {_process.ExitCode}; see {_logPath}");
            }

            try
            {
                return (await client.GetAsync(new Uri("/health/ready", UriKind.Relative))).IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false;
            }
            catch (TaskCanceledException)
            {
                return false;
            }
        }, ready => ready, TimeSpan.FromSeconds(60), $"{_project} to become ready on {BaseAddress} (log: {_logPath})");
    }

    /// <summary>Ends the process at once, as a crash would (no graceful shutdown).</summary>
    public void Kill()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }

        _process?.Dispose();
        _process = null;
    }

    public ValueTask DisposeAsync()
    {
        Kill();
        return ValueTask.CompletedTask;
    }

    private static void Write(StreamWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            log.WriteLine(line);
        }
    }
}
