using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace EventReplay.Testing;

/// <summary>
/// One HTTP attempt of a load: its route (a template, no ids), status (0 when no answer came), end and duration, and
/// whether the answer said when to try again (Retry-After).
/// </summary>
public sealed record Attempt(string Route, int Status, DateTimeOffset Ended, double Milliseconds, bool RetryAfter = false)
{
    public DateTimeOffset Started => Ended - TimeSpan.FromMilliseconds(Milliseconds);

    public const int NoResponse = 0;
}

/// <summary>How a <see cref="CommandLoad"/> runs.</summary>
public sealed record LoadOptions
{
    public int Workers { get; init; } = 4;

    public int AccountsPerWorker { get; init; } = 5;

    /// <summary>What each worker waits between two commands, when no <see cref="CommandsPerSecond"/> is set.</summary>
    public TimeSpan Pace { get; init; } = TimeSpan.FromMilliseconds(10);

    /// <summary>Commands started per second by all workers together (null: each worker keeps its <see cref="Pace"/>).</summary>
    public double? CommandsPerSecond { get; init; }

    /// <summary>After this many deposits and withdrawals an account is closed and a new one opened in its place (0: never).</summary>
    public int CloseAfter { get; init; }

    /// <summary>What the reader waits between two rounds of reads.</summary>
    public TimeSpan ReadPace { get; init; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Called for every attempt, commands and reads alike, from the load's own tasks.</summary>
    public Action<Attempt>? Observe { get; init; }
}

/// <summary>
/// Clients that keep using the public API while a test breaks something. Command workers open accounts of their own
/// and deposit and withdraw on them (and close them, when asked), every command with an Idempotency-Key that is
/// repeated after a 5xx or a lost connection (so a command is applied once whatever the outage did); every acknowledged
/// command goes into the <see cref="Ledger"/>. A reader polls one account of each worker and records in the ledger any
/// read whose version is older than one read before (reads never go back). <see cref="InvariantChecks"/> checks the
/// ledger.
/// </summary>
public sealed class CommandLoad : IAsyncDisposable
{
    public const string OpenRoute = "POST /api/accounts";
    public const string DepositRoute = "POST /api/accounts/{id}/deposits";
    public const string WithdrawRoute = "POST /api/accounts/{id}/withdrawals";
    public const string CloseRoute = "POST /api/accounts/{id}/close";
    public const string ReadRoute = "GET /api/accounts/{id}";

    // A command gets a definitive answer within this, or the load fails: an outage the system never recovers from.
    private static readonly TimeSpan CommandDeadline = TimeSpan.FromMinutes(3);

    private readonly ProducerApi _api;
    private readonly LoadOptions _options;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, int> _retried = new();
    private readonly ConcurrentDictionary<string, int> _reads = new();
    private readonly string?[] _watched;
    private readonly Lock _pacing = new();
    private readonly Task _running;
    private long _nextCommand;
    private int _refused;
    private int _closed;

    private CommandLoad(ProducerApi api, LoadOptions options)
    {
        _api = api;
        _options = options;
        _watched = new string?[options.Workers];
        _running = Task.WhenAll(Enumerable.Range(0, options.Workers).Select(worker => Task.Run(() => WorkAsync(worker)))
            .Append(Task.Run(ReadAsync)));
    }

    /// <summary>
    /// Starts <paramref name="workers"/> command workers of <paramref name="accountsPerWorker"/> accounts each and the
    /// reader. Each worker waits <paramref name="pace"/> (10 ms unless given) between two commands.
    /// </summary>
    public static CommandLoad Start(ProducerApi api, int workers = 4, int accountsPerWorker = 5, TimeSpan? pace = null) =>
        Start(api, new LoadOptions { Workers = workers, AccountsPerWorker = accountsPerWorker, Pace = pace ?? TimeSpan.FromMilliseconds(10) });

    public static CommandLoad Start(ProducerApi api, LoadOptions options) => new(api, options);

    public Ledger Ledger { get; } = new();

    public int Acknowledged => Ledger.Acknowledged.Count;

    /// <summary>Attempts answered with a 5xx or not at all, and so sent again.</summary>
    public int RetriedAttempts => _retried.Values.Sum();

    /// <summary>Waits until <paramref name="more"/> commands more than now are acknowledged (fails if the load failed).</summary>
    public async Task WaitForMoreAsync(int more, string what, TimeSpan? timeout = null)
    {
        var target = Acknowledged + more;
        await Eventually.Until(() => Task.FromResult(_running.IsFaulted ? -1 : Acknowledged), count => count >= target || count < 0,
            timeout ?? TimeSpan.FromSeconds(60), $"{more} more acknowledged commands ({what})");
        if (_running.IsFaulted)
        {
            await _running;
        }
    }

    /// <summary>Stops sending (commands under way are carried to a definitive answer) and reading; rethrows what failed the load.</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await _running;
    }

    /// <summary>What the clients saw: acknowledged and refused commands, the attempts that were retried, the reads.</summary>
    public string Describe()
    {
        static string Counts(ConcurrentDictionary<string, int> counts) =>
            counts.IsEmpty ? "none" : string.Join(", ", counts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key} ×{c.Value}"));

        var closed = _options.CloseAfter > 0 ? $", {_closed} accounts closed" : "";
        return $"{Acknowledged} commands acknowledged, {_refused} refused (409){closed}; retried attempts: {Counts(_retried)}; "
            + $"{Ledger.Reads} reads of {_watched.Length} accounts at a time ({Counts(_reads)}), {Ledger.ReadsGoneBack.Count} went back";
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _running;
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            // Stopped with the test that failed; StopAsync is where a failed load is reported.
        }

        _stop.Dispose();
    }

    private async Task WorkAsync(int worker)
    {
        var accounts = Enumerable.Range(0, _options.AccountsPerWorker).Select(_ => ProducerApi.NewAccountId()).ToArray();
        var commands = new int[accounts.Length];
        foreach (var id in accounts)
        {
            await OpenAsync(id);
        }

        _watched[worker] = accounts[0];
        for (var n = 0; !_stop.IsCancellationRequested; n++)
        {
            // Round-robin over the accounts; each gets four deposits, then a withdrawal, so few withdrawals are refused.
            var slot = n % accounts.Length;
            var id = accounts[slot];
            var amount = 1 + n % 7;
            if (_options.CloseAfter > 0 && commands[slot] >= _options.CloseAfter)
            {
                await CommandAsync(key => _api.CloseAsync(id, key), id, "AccountClosed", null);
                Interlocked.Increment(ref _closed);
                accounts[slot] = ProducerApi.NewAccountId();
                commands[slot] = 0;
                await OpenAsync(accounts[slot]);
                _watched[worker] = accounts[0];
            }
            else if (commands[slot]++ % 5 == 4)
            {
                await CommandAsync(key => _api.WithdrawAsync(id, amount.ToString(CultureInfo.InvariantCulture), key), id, "FundsWithdrawn", amount);
            }
            else
            {
                await CommandAsync(key => _api.DepositAsync(id, $"{amount}.25", key), id, "FundsDeposited", amount + 0.25m);
            }

            await PaceAsync();
        }
    }

    private Task OpenAsync(string id) => CommandAsync(key => _api.OpenAsync(id, key: key), id, "AccountOpened", null);

    // Pacing, so the load leaves the shared cores to the services under test: a fixed wait after each command, or one
    // start every 1/rate seconds shared by all workers (a worker that falls behind does not make up for it in a burst).
    private async Task PaceAsync()
    {
        if (_options.CommandsPerSecond is not { } rate)
        {
            await Task.Delay(_options.Pace); // pacing the load (see above), not waiting for something to happen
            return;
        }

        long start;
        lock (_pacing)
        {
            start = Math.Max(Stopwatch.GetTimestamp(), _nextCommand);
            _nextCommand = start + (long)(Stopwatch.Frequency / rate);
        }

        var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), start);
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait); // pacing to the rate, see above
        }
    }

    /// <summary>Sends a command until it gets a definitive answer (the same key each time); records it if acknowledged.</summary>
    private async Task CommandAsync(Func<string, Task<HttpResponseMessage>> send, string accountId, string type, decimal? amount)
    {
        var route = type switch
        {
            "AccountOpened" => OpenRoute,
            "FundsDeposited" => DepositRoute,
            "FundsWithdrawn" => WithdrawRoute,
            _ => CloseRoute,
        };
        var key = Guid.NewGuid().ToString("N");
        var deadline = DateTime.UtcNow + CommandDeadline;
        var last = "";
        for (var delay = TimeSpan.FromMilliseconds(100); ; delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 2000)))
        {
            var started = Stopwatch.GetTimestamp();
            try
            {
                using var response = await send(key);
                var status = (int)response.StatusCode;
                Observe(route, status, started, response.Headers.RetryAfter is not null);
                if (response.IsSuccessStatusCode)
                {
                    var body = await ProducerApi.BodyAsync(response, status);
                    Ledger.Add(new Acknowledged(accountId, body.GetProperty("version").GetInt64(), body.GetProperty("position").GetInt64(), type, amount));
                    return;
                }

                if (response.StatusCode == HttpStatusCode.Conflict)
                {
                    Interlocked.Increment(ref _refused); // insufficient funds: a definitive answer, nothing appended
                    return;
                }

                if (status < 500)
                {
                    // No other refusal can happen to these commands: one would mean the test or the API is wrong.
                    throw new InvalidOperationException(
                        $"{type} on {accountId} was answered {status}: {await response.Content.ReadAsStringAsync()}");
                }

                last = status.ToString(CultureInfo.InvariantCulture);
            }
            catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
            {
                Observe(route, Attempt.NoResponse, started);
                last = "no response";
            }

            _retried.AddOrUpdate(last, 1, (_, count) => count + 1);
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{type} on {accountId} got no definitive answer within {CommandDeadline.TotalMinutes} minutes (last: {last}).");
            }

            await Task.Delay(delay); // back-off between retries of one command while a dependency is away
        }
    }

    private void Observe(string route, int status, long started, bool retryAfter = false) =>
        _options.Observe?.Invoke(new Attempt(route, status, DateTimeOffset.UtcNow, Stopwatch.GetElapsedTime(started).TotalMilliseconds, retryAfter));

    private async Task ReadAsync()
    {
        var seen = new Dictionary<string, long>();
        while (!_stop.IsCancellationRequested)
        {
            foreach (var id in _watched.OfType<string>())
            {
                var (outcome, version) = await ReadOnceAsync(id);
                _reads.AddOrUpdate(outcome, 1, (_, count) => count + 1);
                if (version is not { } read)
                {
                    continue;
                }

                Ledger.Read();
                var before = seen.GetValueOrDefault(id);
                if (read < before)
                {
                    Ledger.WentBack($"{id}: {outcome} version {read} after version {before}");
                }

                seen[id] = Math.Max(before, read);
            }

            await Task.Delay(_options.ReadPace); // pacing between rounds of reads
        }
    }

    /// <summary>One read of an account: how it was served and its version (0 when not found; none when not answered).</summary>
    private async Task<(string Outcome, long? Version)> ReadOnceAsync(string id)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var response = await _api.Http.GetAsync(new Uri($"/api/accounts/{id}", UriKind.Relative));
            Observe(ReadRoute, (int)response.StatusCode, started);
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                return ("404", 0);
            }

            if (response.StatusCode != HttpStatusCode.OK)
            {
                return (((int)response.StatusCode).ToString(CultureInfo.InvariantCulture), null);
            }

            var body = await ProducerApi.BodyAsync(response, 200);
            var cache = response.Headers.TryGetValues("X-Cache", out var values) ? values.Single() : "?";
            var outcome = response.Headers.Contains("X-Data-Stale") ? "stale" : cache;
            return (outcome, body.GetProperty("version").GetInt64());
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
        {
            Observe(ReadRoute, Attempt.NoResponse, started);
            return ("no response", null);
        }
    }
}
