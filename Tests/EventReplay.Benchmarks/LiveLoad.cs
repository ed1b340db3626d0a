using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace EventReplay.Benchmarks;

/// <summary>
/// Commands through the public API for a fixed time at a fixed concurrency: every worker deposits into accounts of
/// its own, as fast as answers come back, while a probe measures how long a command's 200 takes to show in
/// <c>GET /api/accounts/{id}</c> (one probe at a time, every 100 ms, so it barely adds load).
/// </summary>
public static class LiveLoad
{
    private const int AccountsPerWorker = 4;

    public sealed record Result(int Concurrency, double Seconds, long Commands, long Failures, double CommandsPerSecond,
        Percentiles CommandLatencyMs, Percentiles VisibleDelayMs, int Probes, IReadOnlyDictionary<string, double> CpuSeconds,
        IReadOnlyDictionary<string, double> ResidentMiB);

    /// <summary>Runs for <paramref name="duration"/>, or until <paramref name="until"/> is cancelled if sooner.</summary>
    public static Task<Result> RunAsync(Uri api, int concurrency, TimeSpan duration, CancellationToken until = default) =>
        RunAsync(api, concurrency, null, duration, until);

    /// <summary>
    /// Deposits offered at a fixed rate (open loop) over 1,000 accounts for <paramref name="duration"/>: each command is
    /// sent at its scheduled moment whether or not earlier ones were answered, and its latency counts from that moment,
    /// so a slow answer cannot hide the commands that queued behind it. Commands that would exceed 4,096 in flight are
    /// counted as failures, not sent.
    /// </summary>
    public static Task<Result> RunOfferedAsync(Uri api, int perSecond, TimeSpan duration) => RunAsync(api, 0, perSecond, duration, default);

    private static async Task<Result> RunAsync(Uri api, int concurrency, int? perSecond, TimeSpan duration, CancellationToken until)
    {
        const int OfferedAccounts = 1000;
        const int MaxInFlight = 4096;
        using var http = ApiClient.Create(api, new SocketsHttpHandler { MaxConnectionsPerServer = perSecond is null ? concurrency + 2 : 512 });
        var run = Guid.NewGuid().ToString("N")[..8];
        var accounts = perSecond is null
            ? Enumerable.Range(0, concurrency).Select(worker => Enumerable.Range(0, AccountsPerWorker).Select(n => $"bench-{run}-{worker}-{n}").ToArray()).ToArray()
            : [Enumerable.Range(0, OfferedAccounts).Select(n => $"bench-{run}-{n}").ToArray()];
        var probeAccount = $"bench-{run}-probe";
        await Parallel.ForEachAsync(accounts.SelectMany(a => a).Append(probeAccount), new ParallelOptions { MaxDegreeOfParallelism = 8 },
            async (id, ct) => await OpenAsync(http, id, ct));

        var cpu = ProcessCpu.Start();
        var clock = Stopwatch.StartNew();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(until);
        stop.CancelAfter(duration);
        var latencies = new List<double>[Math.Max(concurrency, 1)];
        var failures = new long[latencies.Length];
        List<Task> workers;
        if (perSecond is { } rate)
        {
            workers = [OfferAsync(http, accounts[0], rate, MaxInFlight, latencies, failures, stop.Token)];
        }
        else
        {
            workers = [.. Enumerable.Range(0, concurrency).Select(worker => Task.Run(async () =>
            {
                var mine = latencies[worker] = new List<double>(100_000);
                for (var n = 0; !stop.IsCancellationRequested; n++)
                {
                    var started = Stopwatch.GetTimestamp();
                    var (status, _) = await DepositAsync(http, accounts[worker][n % AccountsPerWorker]);
                    if (status == HttpStatusCode.OK)
                    {
                        mine.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    }
                    else
                    {
                        failures[worker]++;
                    }
                }
            }))];
        }

        var delays = new List<double>();
        var probe = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var next = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 10;
                if (await VisibleDelayAsync(http, probeAccount) is { } delay)
                {
                    delays.Add(delay);
                }

                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), next);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait); // pacing: one probe per 100 ms, so probing barely adds load
                }
            }
        });
        await Task.WhenAll(workers.Append(probe));
        var seconds = clock.Elapsed.TotalSeconds;
        var cpuSeconds = cpu.Elapsed();
        var commandLatencies = latencies.Where(l => l is not null).SelectMany(l => l).ToList();
        return new Result(perSecond ?? concurrency, seconds, commandLatencies.Count, failures.Sum(), commandLatencies.Count / seconds,
            Percentiles.Of(commandLatencies), Percentiles.Of(delays), delays.Count, cpuSeconds, ProcessCpu.ResidentMiB());
    }

    /// <summary>The open loop: every millisecond or so, sends the commands whose moment has come.</summary>
    private static async Task OfferAsync(HttpClient http, string[] accounts, int perSecond, int maxInFlight, List<double>[] latencies,
        long[] failures, CancellationToken stop)
    {
        var answered = latencies[0] = new List<double>(perSecond * 120);
        var gate = new Lock();
        var inFlight = 0;
        var sent = new List<Task>();
        var start = Stopwatch.GetTimestamp();
        for (long n = 0; !stop.IsCancellationRequested;)
        {
            var due = (long)(Stopwatch.GetElapsedTime(start).TotalSeconds * perSecond);
            for (; n < due; n++)
            {
                var scheduled = start + (long)(n * (double)Stopwatch.Frequency / perSecond);
                if (Interlocked.Increment(ref inFlight) > maxInFlight)
                {
                    Interlocked.Decrement(ref inFlight);
                    Interlocked.Increment(ref failures[0]);
                    continue;
                }

                var account = accounts[n % accounts.Length];
                sent.Add(Task.Run(async () =>
                {
                    var (status, _) = await DepositAsync(http, account);
                    var latency = Stopwatch.GetElapsedTime(scheduled).TotalMilliseconds;
                    Interlocked.Decrement(ref inFlight);
                    if (status == HttpStatusCode.OK)
                    {
                        lock (gate)
                        {
                            answered.Add(latency);
                        }
                    }
                    else
                    {
                        Interlocked.Increment(ref failures[0]);
                    }
                }, CancellationToken.None));
            }

            sent.RemoveAll(task => task.IsCompleted);
            await Task.Delay(1, CancellationToken.None); // the open loop's tick: sends what came due since the last one
        }

        await Task.WhenAll(sent);
    }

    /// <summary>Milliseconds from a deposit's 200 to the read model showing its version.</summary>
    private static async Task<double?> VisibleDelayAsync(HttpClient http, string account)
    {
        var (status, version) = await DepositAsync(http, account);
        if (status != HttpStatusCode.OK)
        {
            return null;
        }

        var acknowledged = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(acknowledged) < TimeSpan.FromSeconds(30))
        {
            using var response = await http.GetAsync(new Uri($"/api/accounts/{account}", UriKind.Relative));
            if (response.IsSuccessStatusCode)
            {
                using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                if (body.RootElement.GetProperty("version").GetInt64() >= version)
                {
                    return Stopwatch.GetElapsedTime(acknowledged).TotalMilliseconds;
                }
            }

            await Task.Delay(2); // polling interval of the probe, not synchronisation
        }

        return null;
    }

    private static async Task OpenAsync(HttpClient http, string id, CancellationToken ct)
    {
        using var content = new StringContent($$"""{"accountId":"{{id}}","owner":"Bench"}""", Encoding.UTF8, "application/json");
        using var response = await http.PostAsync(new Uri("/api/accounts", UriKind.Relative), content, ct);
        if (response.StatusCode != HttpStatusCode.Created)
        {
            throw new InvalidOperationException($"Opening {id} answered {(int)response.StatusCode}.");
        }
    }

    private static async Task<(HttpStatusCode Status, long Version)> DepositAsync(HttpClient http, string account)
    {
        try
        {
            using var content = new StringContent("""{"amount":1}""", Encoding.UTF8, "application/json");
            using var response = await http.PostAsync(new Uri($"/api/accounts/{account}/deposits", UriKind.Relative), content);
            var version = response.Headers.ETag is { } etag ? long.Parse(etag.Tag.Trim('"'), CultureInfo.InvariantCulture) : 0;
            return (response.StatusCode, version);
        }
        catch (HttpRequestException)
        {
            return (0, 0);
        }
        catch (TaskCanceledException)
        {
            return (0, 0);
        }
    }
}
