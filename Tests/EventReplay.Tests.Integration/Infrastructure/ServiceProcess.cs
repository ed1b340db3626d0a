using System.Diagnostics;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>
/// One of our services run as a real process on a free loopback port, its output kept in a log file. Once ready it is
/// supervised as eng/supervise.sh supervises eng/run.sh's processes: when it exits on its own (a crash, a kill from
/// outside) it is started again on the same port after 1 s, doubling up to 30 s while it keeps failing, with a line in
/// its log. <see cref="Kill"/> and <see cref="DisposeAsync"/> end it on purpose: nothing restarts it until the next
/// <see cref="StartAsync"/>. A process that exits before it is first ready fails <see cref="StartAsync"/> instead.
/// </summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    private static readonly TimeSpan FirstRestart = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxRestart = TimeSpan.FromSeconds(30);

    // A run this long was healthy: the next restart waits FirstRestart again. As in eng/supervise.sh, longer than a
    // service takes to start and to fail at start, so one that keeps dying on its way up backs off.
    private static readonly TimeSpan Healthy = TimeSpan.FromSeconds(60);

    private readonly string _project;
    private readonly IReadOnlyDictionary<string, string> _environment;
    private readonly Lock _gate = new();
    private readonly Lock _logGate = new();
    private Process? _process;
    private CancellationTokenSource? _supervision;
    private StreamWriter? _log;
    private int _restarts;

    public ServiceProcess(string project, IReadOnlyDictionary<string, string> environment, int? port = null)
    {
        _project = project;
        _environment = BrokerAccounts.ForService(project, environment);
        Port = port ?? TestEnvironment.FreePort();
        BaseAddress = new Uri($"http://127.0.0.1:{Port}");
        LogPath = Path.Combine(TestEnvironment.LogDirectory, $"{project}-{Port}.log");
    }

    public int Port { get; }

    public Uri BaseAddress { get; }

    public string LogPath { get; }

    /// <summary>The operating system's id of the running process; null while none runs (stopped, or waiting to restart).</summary>
    public int? ProcessId
    {
        get
        {
            lock (_gate)
            {
                return _process?.Id;
            }
        }
    }

    /// <summary>How many times the process was started again after exiting on its own.</summary>
    public int Restarts => Volatile.Read(ref _restarts);

    /// <summary>A client of this process alone, with a token of every role (<see cref="TestTokens.Everyone"/>).</summary>
    public HttpClient CreateClient() => TestTokens.Authorized(new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) });

    /// <summary>Starts the process (ending one still running first), waits until it is ready, then supervises it.</summary>
    public async Task StartAsync()
    {
        var assembly = TestEnvironment.ServiceAssembly(_project);
        if (!File.Exists(assembly))
        {
            throw new FileNotFoundException($"{assembly} is not built; run eng/test.sh or dotnet build first.");
        }

        Kill();
        Process process;
        long started;
        lock (_gate)
        {
            (process, started) = Launch(assembly);
        }

        using var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(2) };
        await Eventually.Until(async () =>
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"{_project} exited with {process.ExitCode}; see {LogPath}");
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
        }, ready => ready, TimeSpan.FromSeconds(60), $"{_project} to become ready on {BaseAddress} (log: {LogPath})");

        lock (_gate)
        {
            // Ended by Kill() while it was starting: that was on purpose too.
            if (_process == process)
            {
                _supervision = new CancellationTokenSource();
                _ = SuperviseAsync(assembly, process, started, _supervision.Token);
            }
        }
    }

    /// <summary>Ends the process at once, as a crash would (no graceful shutdown), and does not restart it.</summary>
    public void Kill()
    {
        Process? process;
        lock (_gate)
        {
            // Under the lock, so the supervising loop either sees the cancellation or has already published the
            // process it started, which is then the one killed here.
            _supervision?.Cancel();
            _supervision = null;
            process = _process;
            _process = null;
        }

        if (process is { HasExited: false })
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }

        process?.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        Kill();
        lock (_logGate)
        {
            _log?.Dispose();
            _log = null;
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>The log written so far (the process's output and the restarts), readable while it is being written.</summary>
    public string ReadLog()
    {
        using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private async Task SuperviseAsync(string assembly, Process process, long started, CancellationToken stop)
    {
        var delay = FirstRestart;
        while (true)
        {
            try
            {
                await process.WaitForExitAsync(stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            var ran = Stopwatch.GetElapsedTime(started);
            lock (_gate)
            {
                if (stop.IsCancellationRequested)
                {
                    return;
                }

                delay = ran >= Healthy ? FirstRestart : delay;
                var restarts = Interlocked.Increment(ref _restarts);
                WriteLog($"---- exited ({Describe(process.ExitCode)}) after {ran.TotalSeconds:0} s; restart {restarts} in {delay.TotalSeconds:0} s");
                process.Dispose();
                _process = null;
            }

            try
            {
                await Task.Delay(delay, stop); // the back-off before the restart, not synchronisation
            }
            catch (OperationCanceledException)
            {
                return;
            }

            lock (_gate)
            {
                if (stop.IsCancellationRequested)
                {
                    return;
                }

                (process, started) = Launch(assembly);
            }

            delay = delay * 2 < MaxRestart ? delay * 2 : MaxRestart;
        }
    }

    /// <summary>Starts the process and makes it the current one; call with <see cref="_gate"/> held.</summary>
    private (Process Process, long Started) Launch(string assembly)
    {
        var start = new ProcessStartInfo("dotnet", [assembly])
        {
            WorkingDirectory = Path.GetDirectoryName(assembly)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["ASPNETCORE_URLS"] = BaseAddress.ToString();
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["Auth__SigningKeyFile"] = TestTokens.PublicKeyFile;
        // The tests' services connect as the owner role and make their tables at start (a test drops a schema and starts
        // a service to have it anew), unless a test names its own mode (DatabaseRoleTests: a migration, then own roles).
        start.Environment["Database__Schema"] = "apply";
        foreach (var (name, value) in _environment)
        {
            start.Environment[name] = value;
        }

        WriteLog($"---- start {DateTimeOffset.UtcNow:O}");
        var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {_project}.");
        var started = Stopwatch.GetTimestamp();
        process.OutputDataReceived += (_, line) => WriteLog(line.Data);
        process.ErrorDataReceived += (_, line) => WriteLog(line.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        return (process, started);
    }

    /// <summary>What ended a process: on Unix .NET reports death by signal N as exit code 128+N.</summary>
    private static string Describe(int exitCode) => exitCode switch
    {
        128 + 1 => "signal HUP",
        128 + 2 => "signal INT",
        128 + 3 => "signal QUIT",
        128 + 6 => "signal ABRT",
        128 + 9 => "signal KILL",
        128 + 11 => "signal SEGV",
        128 + 13 => "signal PIPE",
        128 + 15 => "signal TERM",
        _ => $"code {exitCode}",
    };

    private void WriteLog(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_logGate)
        {
            _log ??= new StreamWriter(LogPath, append: true) { AutoFlush = true };
            _log.WriteLine(line);
        }
    }
}
