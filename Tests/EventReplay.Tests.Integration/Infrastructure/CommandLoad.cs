using System.Collections.Concurrent;
using System.Globalization;
using System.Net;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>
/// Clients that keep using the public API while a test breaks something. Command workers open accounts of their own
/// and deposit and withdraw on them, every command with an Idempotency-Key that is repeated after a 5xx or a lost
/// connection (so a command is applied once whatever the outage did); every acknowledged command goes into the
/// <see cref="Ledger"/>. A reader polls one account of each worker and records in the ledger any read whose version
/// is older than one read before (reads never go back). <see cref="Invariants.AssertAllAsync"/> checks the ledger.
/// </summary>
public sealed class CommandLoad : IAsyncDisposable
{
    // A command gets a definitive answer within this, or the load fails: an outage the system never recovers from.
    private static readonly TimeSpan CommandDeadline = TimeSpan.FromMinutes(3);

    private readonly ProducerApi _api;
    private readonly TimeSpan _pace;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, int> _retried = new();
    private readonly ConcurrentDictionary<string, int> _reads = new();
    private readonly ConcurrentQueue<string> _watched = new();
    private readonly Task _running;
    private int _refused;

    private CommandLoad(ProducerApi api, int workers, int accountsPerWorker, TimeSpan pace)
    {
        _api = api;
        _pace = pace;
        _running = Task.WhenAll(Enumerable.Range(0, workers).Select(_ => Task.Run(() => WorkAsync(accountsPerWorker)))
            .Append(Task.Run(ReadAsync)));
    }

    /// <summary>
    /// Starts <paramref name="workers"/> command workers of <paramref name="accountsPerWorker"/> accounts each and the
    /// reader. Each worker waits <paramref name="pace"/> (10 ms unless given) between two commands.
    /// </summary>
    public static CommandLoad Start(ProducerApi api, int workers = 4, int accountsPerWorker = 5, TimeSpan? pace = null) =>
        new(api, workers, accountsPerWorker, pace ?? TimeSpan.FromMilliseconds(10));

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

        return $"{Acknowledged} commands acknowledged, {_refused} refused (409); retried attempts: {Counts(_retried)}; "
            + $"{Ledger.Reads} reads of {_watched.Count} accounts ({Counts(_reads)}), {Ledger.ReadsGoneBack.Count} went back";
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

    private async Task WorkAsync(int accountsPerWorker)
    {
        var accounts = Enumerable.Range(0, accountsPerWorker).Select(_ => ProducerApi.NewAccountId()).ToList();
        foreach (var id in accounts)
        {
            await CommandAsync(key => _api.OpenAsync(id, key: key), id, "AccountOpened", null);
        }

        _watched.Enqueue(accounts[0]);
        for (var n = 0; !_stop.IsCancellationRequested; n++)
        {
            // Round-robin over the accounts; each gets four deposits, then a withdrawal, so few withdrawals are refused.
            var id = accounts[n % accounts.Count];
            var amount = 1 + n % 7;
            if (n / accounts.Count % 5 == 4)
            {
                await CommandAsync(key => _api.WithdrawAsync(id, amount.ToString(CultureInfo.InvariantCulture), key), id, "FundsWithdrawn", amount);
            }
            else
            {
                await CommandAsync(key => _api.DepositAsync(id, $"{amount}.25", key), id, "FundsDeposited", amount + 0.25m);
            }

            await Task.Delay(_pace); // pacing, so the load leaves the shared cores to the services under test
        }
    }

    /// <summary>Sends a command until it gets a definitive answer (the same key each time); records it if acknowledged.</summary>
    private async Task CommandAsync(Func<string, Task<HttpResponseMessage>> send, string accountId, string type, decimal? amount)
    {
        var key = Guid.NewGuid().ToString("N");
        var deadline = DateTime.UtcNow + CommandDeadline;
        var last = "";
        for (var delay = TimeSpan.FromMilliseconds(100); ; delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 2000)))
        {
            try
            {
                using var response = await send(key);
                var status = (int)response.StatusCode;
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

    private async Task ReadAsync()
    {
        var seen = new Dictionary<string, long>();
        while (!_stop.IsCancellationRequested)
        {
            foreach (var id in _watched)
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

            await Task.Delay(TimeSpan.FromMilliseconds(20)); // pacing between rounds of reads
        }
    }

    /// <summary>One read of an account: how it was served and its version (0 when not found; none when not answered).</summary>
    private async Task<(string Outcome, long? Version)> ReadOnceAsync(string id)
    {
        try
        {
            using var response = await _api.Http.GetAsync(new Uri($"/api/accounts/{id}", UriKind.Relative));
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
            return ("no response", null);
        }
    }
}
