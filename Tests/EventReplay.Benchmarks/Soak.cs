using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using EventReplay.Testing;

namespace EventReplay.Benchmarks;

/// <summary>How a soak run goes; eng/soak.sh passes these.</summary>
public sealed record SoakOptions
{
    public required Uri Api { get; init; }

    /// <summary>The system's event store (the harness's own connections: no short command timeout).</summary>
    public required string EventStore { get; init; }

    /// <summary>The system's read models (likewise).</summary>
    public required string ReadModels { get; init; }

    public required string Redis { get; init; }

    /// <summary>The databases' name (the same in both clusters), to tell their PostgreSQL backends from other databases'.</summary>
    public required string Database { get; init; }

    public required string Out { get; init; }

    public TimeSpan Duration { get; init; } = TimeSpan.FromMinutes(10);

    public double CommandsPerSecond { get; init; } = 100;

    public int Workers { get; init; } = 8;

    public int AccountsPerWorker { get; init; } = 5;

    /// <summary>After this many deposits and withdrawals an account is closed and another opened.</summary>
    public int CloseAfter { get; init; } = 50;

    /// <summary>The account reader's pause between two rounds (one read of an account of each worker per round).</summary>
    public TimeSpan AccountReadPace { get; init; } = TimeSpan.FromMilliseconds(200);

    public int Readers { get; init; } = 2;

    /// <summary>Statistics, event pages and replay lists read per second by all readers together.</summary>
    public double ReadsPerSecond { get; init; } = 15;

    public TimeSpan RebuildEvery { get; init; } = TimeSpan.FromMinutes(2);

    public TimeSpan KillEvery { get; init; } = TimeSpan.FromMinutes(3);

    public TimeSpan SampleEvery { get; init; } = TimeSpan.FromSeconds(5);

    public int EventStorePort { get; init; } = 5433;

    public int ReadModelsPort { get; init; } = 5432;

    public int AmqpPort { get; init; } = 5672;

    public int RedisPort { get; init; } = 6379;
}

/// <summary>A rebuild the run asked for: when (seconds since the start), how it ended and how long it took by the replay's own times.</summary>
public sealed record RebuildRun(int Number, string Target, string ReplayId, double RequestedAt, string Status, double? Seconds, long EventsTotal,
    string? Error)
{
    public bool Completed => Status == "completed";
}

/// <summary>A consumer killed with SIGKILL: when, its pid and its successor's, and how long until /health/ready answered again.</summary>
public sealed record KillRun(int Number, string Role, int? Pid, int? NewPid, double At, double? ReadyAfter, string? Error)
{
    public bool Recovered => ReadyAfter is not null && Error is null;
}

/// <summary>
/// <c>soak</c>: the whole system (eng/run.sh) under steady mixed traffic through the load balancer for a while,
/// with a rebuild of a consumer every two minutes and a consumer killed every three, its processes' memory and CPU
/// sampled throughout; then the load stops, the pipeline drains and the integration tests' invariant checks run.
/// </summary>
public static class Soak
{
    public const string StatisticsRoute = "GET /api/statistics";
    public const string EventsRoute = "GET /api/events";
    public const string ReplaysRoute = "GET /api/replays";
    public const string StartReplayRoute = "POST /api/replays";
    public const string ReplayRoute = "GET /api/replays/{id}";

    public static readonly IReadOnlyList<string> RouteOrder =
    [
        CommandLoad.OpenRoute, CommandLoad.DepositRoute, CommandLoad.WithdrawRoute, CommandLoad.CloseRoute, CommandLoad.ReadRoute,
        StatisticsRoute, EventsRoute, ReplaysRoute, StartReplayRoute, ReplayRoute,
    ];

    // The ports eng/run.sh gives the system's processes.
    private const int ProducerPort = 5101, BalancesPort = 5111, StatisticsPort = 5121, ReplayPort = 5131, Gateway1Port = 5201, Gateway2Port = 5202;

    private static readonly string[] RebuildTargets = ["balances", "statistics"];
    private static readonly (string Role, int Port, string Assembly)[] Consumers =
        [("balances", BalancesPort, "EventReplay.Consumers.Balances.dll"), ("statistics", StatisticsPort, "EventReplay.Consumers.Statistics.dll")];

    // After a killed consumer answers ready again, the gateways' connections to it may still be failing for a moment.
    private static readonly TimeSpan KillWindowTail = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan RebuildDeadline = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan ReadyDeadline = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan DrainDeadline = TimeSpan.FromMinutes(3);

    /// <summary>The processes sampled, each by the port it listens on (PostgreSQL aside: see <see cref="SystemProcesses"/>).</summary>
    public static IReadOnlyList<(string Role, int Port)> Roles(SoakOptions options) =>
    [
        ("producer", ProducerPort), ("balances", BalancesPort), ("statistics", StatisticsPort), ("replay", ReplayPort),
        ("gateway1", Gateway1Port), ("gateway2", Gateway2Port), ("haproxy", options.Api.Port), ("rabbitmq", options.AmqpPort),
        ("redis", options.RedisPort),
    ];

    public static async Task<SoakReport> RunAsync(SoakOptions options)
    {
        using var http = ApiClient.Create(options.Api, new SocketsHttpHandler { MaxConnectionsPerServer = options.Workers + options.Readers + 4 });
        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        await AllReadyAsync(probe, options);

        var processes = new SystemProcesses(Roles(options),
            [("postgresql eventstore", options.EventStorePort), ("postgresql readmodels", options.ReadModelsPort)], options.Database);
        var samples = new List<ProcessSample>();
        var traffic = new Traffic();
        var rebuilds = new List<RebuildRun>();
        var kills = new List<KillRun>();
        var started = DateTimeOffset.UtcNow;
        var loadAverage = LoadAverage();
        var clock = Stopwatch.StartNew();

        using var stopSampling = new CancellationTokenSource();
        // On a pool thread: the first sample scans every process's sockets, which must not hold back the load's start.
        var sampling = Task.Run(() => SampleAsync(processes, samples, clock, options.SampleEvery, stopSampling.Token));
        var api = new ProducerApi(http);
        await using var load = CommandLoad.Start(api, new LoadOptions
        {
            Workers = options.Workers,
            AccountsPerWorker = options.AccountsPerWorker,
            CommandsPerSecond = options.CommandsPerSecond,
            CloseAfter = options.CloseAfter,
            ReadPace = options.AccountReadPace,
            Observe = traffic.Add,
        });
        using var stopReading = new CancellationTokenSource();
        var readers = Enumerable.Range(0, options.Readers)
            .Select(reader => Task.Run(() => ReadAsync(http, traffic, load.Ledger, reader, options.ReadsPerSecond / options.Readers, stopReading.Token)))
            .ToList();
        using var stopScheduling = new CancellationTokenSource();
        var rebuilding = EveryAsync(options.RebuildEvery, options.Duration, clock, async n =>
            rebuilds.Add(await RebuildAsync(http, traffic, n, RebuildTargets[(n - 1) % 2], clock, started)), stopScheduling.Token);
        var killing = EveryAsync(options.KillEvery, options.Duration, clock, async n =>
            kills.Add(await KillAsync(processes, probe, n, Consumers[(n - 1) % 2], clock)), stopScheduling.Token);

        await Task.Delay(options.Duration); // the length of the run
        Console.WriteLine($"soak: {clock.Elapsed.TotalMinutes:F1} min: stopping the load");

        // A rebuild or a kill under way is seen through; none starts from now on.
        await stopScheduling.CancelAsync();
        await Task.WhenAll(rebuilding, killing);
        await stopReading.CancelAsync();
        await Task.WhenAll(readers);
        string? loadFailure = null;
        try
        {
            await load.StopAsync();
        }
        catch (Exception exception) when (exception is InvalidOperationException or TimeoutException or UnexpectedStatusException)
        {
            loadFailure = exception.Message;
        }

        var loadSeconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"soak: load stopped after {loadSeconds:F0} s; waiting for both consumers to reach the log's head");
        double? drainSeconds = null;
        string? drainError = null;
        try
        {
            drainSeconds = (await Checkpoints.CatchUpAsync(new SystemDatabases(options.EventStore, options.ReadModels), DrainDeadline)).TotalSeconds;
        }
        catch (TimeoutException exception)
        {
            drainError = exception.Message;
        }

        await stopSampling.CancelAsync();
        await sampling;
        samples.AddRange(processes.Sample(clock.Elapsed.TotalSeconds));

        Console.WriteLine("soak: drained; checking the invariants");
        var checks = await InvariantChecks.RunAllAsync(api, load.Ledger, options.ReadModels, options.Redis);

        var windows = kills.Select(k => new KillWindow(k.At, k.ReadyAfter is { } ready ? k.At + ready + KillWindowTail.TotalSeconds : loadSeconds))
            .ToList();
        var commandRoutes = new[] { CommandLoad.OpenRoute, CommandLoad.DepositRoute, CommandLoad.WithdrawRoute, CommandLoad.CloseRoute };
        bool IsAcknowledged(Attempt a) => commandRoutes.Contains(a.Route) && a.Status is >= 200 and < 300;
        var setup = new SoakSetup(started, options.Duration.TotalMinutes, options.CommandsPerSecond, options.Workers, options.AccountsPerWorker,
            options.CloseAfter, options.AccountReadPace.TotalMilliseconds, options.Readers, options.ReadsPerSecond, options.RebuildEvery.TotalSeconds,
            options.KillEvery.TotalSeconds, options.SampleEvery.TotalSeconds, Environment.ProcessorCount, loadAverage, LoadAverage(),
            options.Database);
        var report = new SoakReport(setup, loadSeconds, drainSeconds, drainError, load.Acknowledged, load.Acknowledged / loadSeconds,
            Traffic.PerMinute(traffic.Attempts, started, loadSeconds, IsAcknowledged), load.Describe(), loadFailure,
            Traffic.Summarize(traffic.Attempts, started, windows, RouteOrder), MemoryTrend.Lifetimes(samples), rebuilds, kills, checks);
        await SoakReport.WriteAsync(report, samples, options.Out);
        return report;
    }

    // Every service answers ready before the clock starts: a soak measures the system running, not starting.
    private static async Task AllReadyAsync(HttpClient probe, SoakOptions options)
    {
        var checks = new[] { ProducerPort, BalancesPort, StatisticsPort, ReplayPort }.Select(port => $"http://127.0.0.1:{port}/health/ready")
            .Concat(new[] { Gateway1Port, Gateway2Port }.Select(port => $"http://127.0.0.1:{port}/health"))
            .Append(new Uri(options.Api, "/health").ToString());
        foreach (var check in checks)
        {
            await Eventually.Until(() => AnswersAsync(probe, check), ready => ready, ReadyDeadline, $"{check} to answer 2xx");
        }
    }

    private static async Task<bool> AnswersAsync(HttpClient probe, string url)
    {
        try
        {
            using var response = await probe.GetAsync(new Uri(url));
            return response.IsSuccessStatusCode;
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    private static async Task SampleAsync(SystemProcesses processes, List<ProcessSample> samples, Stopwatch clock, TimeSpan every, CancellationToken stop)
    {
        for (var n = 0; !stop.IsCancellationRequested; n++)
        {
            samples.AddRange(processes.Sample(clock.Elapsed.TotalSeconds));
            var wait = every * (n + 1) - clock.Elapsed;
            if (wait > TimeSpan.Zero && !await DelayAsync(wait, stop))
            {
                return;
            }
        }
    }

    /// <summary>Runs <paramref name="action"/> at <paramref name="every"/>, twice that, … while that is before <paramref name="duration"/>.</summary>
    private static async Task EveryAsync(TimeSpan every, TimeSpan duration, Stopwatch clock, Func<int, Task> action, CancellationToken stop)
    {
        for (var n = 1; every * n < duration; n++)
        {
            var wait = every * n - clock.Elapsed;
            if ((wait > TimeSpan.Zero && !await DelayAsync(wait, stop)) || stop.IsCancellationRequested)
            {
                return; // the run ended (perhaps while the last action went on past this one's moment)
            }

            await action(n);
        }
    }

    // The scheduled moment (false: the run ended first).
    private static async Task<bool> DelayAsync(TimeSpan wait, CancellationToken stop)
    {
        try
        {
            await Task.Delay(wait, stop); // waiting for the schedule, not for a condition
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>
    /// A reader of what is not an account: the statistics (whose position must never go back between two of this
    /// reader's reads), a page of the log (walking it from a random place to its head) and the list of replays.
    /// </summary>
    private static async Task ReadAsync(HttpClient http, Traffic traffic, Ledger ledger, int reader, double perSecond, CancellationToken stop)
    {
        var random = new Random(reader);
        var interval = TimeSpan.FromSeconds(1 / perSecond);
        long position = 0, after = 0;
        var next = Stopwatch.GetTimestamp();
        for (var n = reader; !stop.IsCancellationRequested; n++)
        {
            switch (n % 3)
            {
                case 0 when await GetAsync(http, traffic, "/api/statistics", StatisticsRoute) is { } statistics:
                    var now = statistics.GetProperty("position").GetInt64();
                    if (now < position)
                    {
                        ledger.WentBack($"statistics (reader {reader}): position {now} after position {position}");
                    }

                    position = Math.Max(position, now);
                    break;
                case 1 when await GetAsync(http, traffic, $"/api/events?after={after}&limit=100", EventsRoute) is { } page:
                    after = page.GetProperty("events").GetArrayLength() == 0 ? random.NextInt64(0, after + 1) : page.GetProperty("next").GetInt64();
                    break;
                case 2:
                    await GetAsync(http, traffic, "/api/replays?limit=20", ReplaysRoute);
                    break;
            }

            // One read every 1/rate seconds; a reader that falls behind does not make up for it in a burst.
            next = Math.Max(next + (long)(interval.TotalSeconds * Stopwatch.Frequency), Stopwatch.GetTimestamp());
            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), next);
            if (wait > TimeSpan.Zero && !await DelayAsync(wait, stop))
            {
                return;
            }
        }
    }

    /// <summary>A GET through the load balancer, recorded; its JSON body when it answered 200, else null.</summary>
    private static async Task<JsonElement?> GetAsync(HttpClient http, Traffic traffic, string path, string route)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var response = await http.GetAsync(new Uri(path, UriKind.Relative));
            Record(traffic, route, (int)response.StatusCode, started);
            if (!response.IsSuccessStatusCode)
            {
                return null;
            }

            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            return body.RootElement.Clone();
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
        {
            Record(traffic, route, Attempt.NoResponse, started);
            return null;
        }
    }

    private static void Record(Traffic traffic, string route, int status, long started) =>
        traffic.Add(new Attempt(route, status, DateTimeOffset.UtcNow, Stopwatch.GetElapsedTime(started).TotalMilliseconds));

    /// <summary>
    /// Rebuilds <paramref name="target"/> and waits for the replay to end; a refusal, a failed or cancelled replay, or
    /// one still running after <see cref="RebuildDeadline"/> is a failed rebuild. The request carries its own id, so it
    /// is safe to repeat after a 5xx or a lost connection.
    /// </summary>
    private static async Task<RebuildRun> RebuildAsync(HttpClient http, Traffic traffic, int number, string target, Stopwatch clock, DateTimeOffset started)
    {
        var id = $"soak-{started:yyyyMMddHHmmss}-{number}-{target}";
        var requestedAt = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"soak: {requestedAt / 60:F1} min: rebuild {number} of {target} ({id})");
        RebuildRun Failed(string status, string error) => new(number, target, id, requestedAt, status, null, 0, error);

        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var sent = Stopwatch.GetTimestamp();
            try
            {
                using var response = await http.PostAsJsonAsync("/api/replays", new { replayId = id, target, mode = "rebuild", reason = "soak" });
                Record(traffic, StartReplayRoute, (int)response.StatusCode, sent);
                if (response.IsSuccessStatusCode)
                {
                    break;
                }

                if ((int)response.StatusCode < 500)
                {
                    return Failed("refused", $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                }
            }
            catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
            {
                Record(traffic, StartReplayRoute, Attempt.NoResponse, sent);
            }

            if (deadline.Elapsed > TimeSpan.FromMinutes(1))
            {
                return Failed("not started", "POST /api/replays got no answer but 5xx or none for a minute");
            }

            await Task.Delay(TimeSpan.FromSeconds(1)); // Retry-After of a 503
        }

        JsonElement? last = null;
        while (deadline.Elapsed < RebuildDeadline)
        {
            if (await GetAsync(http, traffic, $"/api/replays/{id}", ReplayRoute) is { } replay)
            {
                last = replay;
                var status = replay.GetProperty("status").GetString()!;
                if (status is "completed" or "failed" or "cancelled")
                {
                    var took = replay.GetProperty("completedAt").ValueKind == JsonValueKind.String
                        ? (replay.GetProperty("completedAt").GetDateTimeOffset() - replay.GetProperty("requestedAt").GetDateTimeOffset()).TotalSeconds
                        : (double?)null;
                    var error = replay.GetProperty("error").ValueKind == JsonValueKind.String ? replay.GetProperty("error").GetString() : null;
                    Console.WriteLine($"soak: rebuild {number} of {target} {status} in {took:F1} s ({replay.GetProperty("eventsTotal").GetInt64()} events)");
                    return new RebuildRun(number, target, id, requestedAt, status, took, replay.GetProperty("eventsTotal").GetInt64(), error);
                }
            }

            await Task.Delay(TimeSpan.FromSeconds(1)); // polling the replay's status
        }

        return Failed("timed out", $"still {last?.GetProperty("status").GetString() ?? "unknown"} after {RebuildDeadline.TotalMinutes} minutes: {last}");
    }

    /// <summary>
    /// Kills the consumer with SIGKILL, only if the process listening on its port is that consumer's and runs under
    /// eng/supervise.sh (so never another system's process), and waits for its successor to answer /health/ready.
    /// </summary>
    private static async Task<KillRun> KillAsync(SystemProcesses processes, HttpClient probe, int number, (string Role, int Port, string Assembly) consumer,
        Stopwatch clock)
    {
        var at = clock.Elapsed.TotalSeconds;
        if (processes.Find(consumer.Role) is not { } found
            || !found.CommandLine.Contains(consumer.Assembly, StringComparison.Ordinal)
            || !found.ParentCommandLine.Contains("supervise.sh", StringComparison.Ordinal))
        {
            return new KillRun(number, consumer.Role, null, null, at, null, $"no {consumer.Assembly} under eng/supervise.sh listens on {consumer.Port}");
        }

        Console.WriteLine($"soak: {at / 60:F1} min: kill {number}: SIGKILL to {consumer.Role} (pid {found.Pid})");
        using (var process = Process.GetProcessById(found.Pid))
        {
            process.Kill(); // SIGKILL on Linux
        }

        var ready = $"http://127.0.0.1:{consumer.Port}/health/ready";
        try
        {
            // Gone first, so that the answer comes from its successor, not from the killed process before the signal landed.
            await Eventually.Until(() => Task.FromResult(SystemProcesses.Alive(found.Pid)), alive => !alive, ReadyDeadline, $"pid {found.Pid} to end");
            await Eventually.Until(() => AnswersAsync(probe, ready), answers => answers, ReadyDeadline, $"{consumer.Role} to answer {ready} again");
        }
        catch (TimeoutException exception)
        {
            return new KillRun(number, consumer.Role, found.Pid, processes.Find(consumer.Role)?.Pid, at, null, exception.Message);
        }

        var after = clock.Elapsed.TotalSeconds - at;
        var successor = processes.Find(consumer.Role)?.Pid;
        Console.WriteLine($"soak: {consumer.Role} ready again after {after:F1} s (pid {successor})");
        return new KillRun(number, consumer.Role, found.Pid, successor, at, after, null);
    }

    private static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "?";
        }
    }
}
