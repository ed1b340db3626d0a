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
    public static async Task<Result> RunAsync(Uri api, int concurrency, TimeSpan duration, CancellationToken until = default)
    {
        using var http = ApiClient.Create(api, new SocketsHttpHandler { MaxConnectionsPerServer = concurrency + 2 });
        var run = Guid.NewGuid().ToString("N")[..8];
        var accounts = Enumerable.Range(0, concurrency)
            .Select(worker => Enumerable.Range(0, AccountsPerWorker).Select(n => $"bench-{run}-{worker}-{n}").ToArray()).ToArray();
        var probeAccount = $"bench-{run}-probe";
        await Parallel.ForEachAsync(accounts.SelectMany(a => a).Append(probeAccount), new ParallelOptions { MaxDegreeOfParallelism = 8 },
            async (id, ct) => await OpenAsync(http, id, ct));

        var cpu = ProcessCpu.Start();
        var clock = Stopwatch.StartNew();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(until);
        stop.CancelAfter(duration);
        var latencies = new List<double>[concurrency];
        var failures = new long[concurrency];
        var workers = Enumerable.Range(0, concurrency).Select(worker => Task.Run(async () =>
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
        })).ToList();
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
        var commandLatencies = latencies.SelectMany(l => l).ToList();
        return new Result(concurrency, seconds, commandLatencies.Count, failures.Sum(), commandLatencies.Count / seconds,
            Percentiles.Of(commandLatencies), Percentiles.Of(delays), delays.Count, cpuSeconds, ProcessCpu.ResidentMiB());
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
