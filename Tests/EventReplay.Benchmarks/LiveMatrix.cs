using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Npgsql;

namespace EventReplay.Benchmarks;

/// <summary>
/// The live write path against the plumbing's own limit, side by side in one run (eng/bench.sh --legs live,http-floor):
/// <c>http-floor</c> drives <c>GET /health/live</c> through the load balancer and gateways, <c>live</c> drives deposits
/// the same way, at fixed concurrencies (closed loop) and at fixed offered rates (open loop). Each live row also says
/// what a command cost: CPU per process, commands per transaction, statements and WAL flushes per command in the event
/// store (pg_stat_statements, pg_stat_wal) and events per AMQP message on the <c>events</c> exchange.
/// </summary>
public static class LiveMatrix
{
    public const string Live = "live";
    public const string HttpFloor = "http-floor";

    public sealed record Row(string Leg, string Load, double PerSecond, long Count, long Failures, double Seconds, Percentiles LatencyMs,
        Percentiles? VisibleMs, IReadOnlyDictionary<string, double> CpuSecondsPer1000, double? CommandsPerTransaction,
        double? StatementsPerCommand, double? WalFlushesPerCommand, double? EventsPerMessage);

    private sealed record Counters(long Statements, long Appends, long WalSyncs, long Published);

    public static async Task<IReadOnlyList<Row>> RunAsync(Uri api, string eventStore, string rabbitManagement, IReadOnlySet<string> legs,
        IReadOnlyList<int> concurrencies, IReadOnlyList<int> rates, TimeSpan duration, TimeSpan warmUp, Action<Row> measured)
    {
        // Unmeasured: a freshly started system spends its first seconds compiling its hot paths (the JIT took 9 % of the
        // machine 12 to 22 s after a start), which is not the steady state the rows are about.
        if (warmUp > TimeSpan.Zero)
        {
            await FloorAsync(api, 32, warmUp / 3);
            await LiveLoad.RunAsync(api, 32, warmUp - warmUp / 3);
        }

        var rows = new List<Row>();
        void Add(Row row)
        {
            rows.Add(row);
            measured(row);
        }

        foreach (var concurrency in concurrencies)
        {
            if (legs.Contains(HttpFloor))
            {
                Add(await FloorAsync(api, concurrency, duration));
            }

            if (legs.Contains(Live))
            {
                Add(await LiveAsync(api, eventStore, rabbitManagement, $"{concurrency} conns", () => LiveLoad.RunAsync(api, concurrency, duration)));
            }
        }

        if (legs.Contains(Live))
        {
            foreach (var rate in rates)
            {
                Add(await LiveAsync(api, eventStore, rabbitManagement, $"{rate}/s offered", () => LiveLoad.RunOfferedAsync(api, rate, duration)));
            }
        }

        return rows;
    }

    /// <summary>The rows as a Markdown table, with the ratio of each concurrency's live rate to its floor.</summary>
    public static string Table(IReadOnlyList<Row> rows)
    {
        var text = new StringBuilder();
        text.AppendLine("| leg | load | per s | p50 ms | p99 ms | p99.9 ms | failed | visible p50 / p99 / max ms | cmds per txn | statements per cmd | WAL flushes per cmd | events per message | CPU s per 1,000 |");
        text.AppendLine("|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|");
        foreach (var row in rows)
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {row.Leg} | {row.Load} | {row.PerSecond:N0} | {row.LatencyMs.P50:F1} | {row.LatencyMs.P99:F1} | {row.LatencyMs.P999:F1} | {row.Failures} | "
                + $"{(row.VisibleMs is { } v ? $"{v.P50:F0} / {v.P99:F0} / {v.Max:F0}" : "")} | {Figure(row.CommandsPerTransaction)} | "
                + $"{Figure(row.StatementsPerCommand)} | {Figure(row.WalFlushesPerCommand, "F3")} | {Figure(row.EventsPerMessage)} | "
                + $"{string.Join(", ", row.CpuSecondsPer1000.Where(p => p.Value >= 0.001).OrderByDescending(p => p.Value).Select(p => $"{p.Key} {p.Value:F3}"))} |");
        }

        foreach (var live in rows.Where(row => row.Leg == Live && row.Load.EndsWith(" conns", StringComparison.Ordinal)))
        {
            if (rows.FirstOrDefault(row => row.Leg == HttpFloor && row.Load == live.Load) is { } floor && floor.PerSecond > 0)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"\nlive / http-floor at {live.Load}: {live.PerSecond / floor.PerSecond:F2}");
            }
        }

        return text.ToString();
    }

    private static string Figure(double? value, string format = "F1") => value is { } figure ? figure.ToString(format, CultureInfo.InvariantCulture) : "";

    private static async Task<Row> LiveAsync(Uri api, string eventStore, string rabbitManagement, string load, Func<Task<LiveLoad.Result>> run)
    {
        var before = await CountersAsync(eventStore, rabbitManagement);
        var result = await run();
        var after = await CountersAsync(eventStore, rabbitManagement);
        // Every accepted command (and each probe's) appended one event.
        var commands = Math.Max(1, result.Commands + result.Probes);
        return new Row(Live, load, result.CommandsPerSecond, result.Commands, result.Failures, result.Seconds, result.CommandLatencyMs,
            result.VisibleDelayMs, result.CpuSeconds.ToDictionary(p => p.Key, p => p.Value / commands * 1000),
            Ratio(commands, after.Appends - before.Appends), Ratio(after.Statements - before.Statements, commands),
            Ratio(after.WalSyncs - before.WalSyncs, commands), Ratio(commands, after.Published - before.Published));
    }

    private static double? Ratio(double over, double under) => under > 0 ? over / under : null;

    /// <summary>Closed-loop <c>GET /health/live</c>: the same load balancer, gateways and producer, no database.</summary>
    private static async Task<Row> FloorAsync(Uri api, int concurrency, TimeSpan duration)
    {
        using var http = ApiClient.Create(api, new SocketsHttpHandler { MaxConnectionsPerServer = concurrency + 2 });
        var cpu = ProcessCpu.Start();
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource(duration);
        var latencies = new List<double>[concurrency];
        var failures = new long[concurrency];
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(worker => Task.Run(async () =>
        {
            var mine = latencies[worker] = new List<double>(200_000);
            while (!stop.IsCancellationRequested)
            {
                var started = Stopwatch.GetTimestamp();
                try
                {
                    using var response = await http.GetAsync(new Uri("/health/live", UriKind.Relative));
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        mine.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                        continue;
                    }
                }
                catch (HttpRequestException)
                {
                }

                failures[worker]++;
            }
        })));
        var seconds = clock.Elapsed.TotalSeconds;
        var all = latencies.SelectMany(l => l).ToList();
        var requests = Math.Max(1, all.Count);
        return new Row(HttpFloor, $"{concurrency} conns", all.Count / seconds, all.Count, failures.Sum(), seconds, Percentiles.Of(all), null,
            cpu.Elapsed().ToDictionary(p => p.Key, p => p.Value / requests * 1000), null, null, null, null);
    }

    private static async Task<Counters> CountersAsync(string eventStore, string rabbitManagement)
    {
        await using var connection = new NpgsqlConnection(eventStore);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            """
            select coalesce(sum(calls), 0)::bigint,
                   coalesce(sum(calls) filter (where query like 'insert into producer.mt_events %'), 0)::bigint,
                   (select wal_sync from pg_stat_wal)
            from pg_stat_statements s join pg_database d on d.oid = s.dbid where d.datname = current_database()
            """, connection);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        var (statements, appends, walSyncs) = (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));

        var management = new Uri(rabbitManagement);
        using var http = new HttpClient { BaseAddress = new Uri(management.GetLeftPart(UriPartial.Authority)), Timeout = TimeSpan.FromSeconds(5) };
        http.DefaultRequestHeaders.Authorization = new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(Uri.UnescapeDataString(management.UserInfo))));
        var exchange = await http.GetFromJsonAsync<JsonElement>($"/api/exchanges/{Uri.EscapeDataString(management.AbsolutePath.Trim('/'))}/events");
        var published = exchange.TryGetProperty("message_stats", out var stats) && stats.TryGetProperty("publish_in", out var count) ? count.GetInt64() : 0;
        return new Counters(statements, appends, walSyncs, published);
    }
}
