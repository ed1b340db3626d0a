using System.Text.Json;
using Npgsql;

namespace EventReplay.Benchmarks;

/// <summary>One repetition of one leg of eng/bench.sh: how many events (or commands) in how long, and what it cost.</summary>
public sealed record LegRun(
    string Leg,
    long Events,
    double Seconds,
    double EventsPerSecond,
    IReadOnlyDictionary<string, double> CpuSeconds,
    IReadOnlyDictionary<string, double> PeakMiB,
    string? Hash,
    double? VisibleP50Ms = null,
    double? VisibleP99Ms = null)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public void AppendTo(string path) => File.AppendAllLines(path, [JsonSerializer.Serialize(this, Json)]);

    public static IReadOnlyList<LegRun> ReadAll(string path) =>
        [.. File.ReadAllLines(path).Where(line => line.Length > 0).Select(line => JsonSerializer.Deserialize<LegRun>(line, Json)!)];
}

/// <summary>The legs of eng/bench.sh; each measures one way of computing the balances read model from the same events.</summary>
public static class Legs
{
    public const string Replay = "replay";
    public const string ReplayNoRedis = "replay-no-redis";
    public const string Marten = "marten";
    public const string ApplyFloor = "apply-floor";
    public const string Floor = "floor";
    public const string Live = "live";

    /// <summary>
    /// Runs a leg that needs no running system (marten, apply-floor, floor) <paramref name="repeat"/> times in this
    /// process: like the replay leg, whose system stays up between its runs, the first run is cold and the others warm.
    /// They read the event store; the floors write into the read models' database, Marten's rebuild (which keeps its
    /// projections beside its events) into the event store's.
    /// </summary>
    public static async Task<IReadOnlyList<LegRun>> RunInProcessAsync(string leg, string eventStore, string readModels, string redis,
        int batchSize, int repeat = 1, Action<LegRun>? measured = null)
    {
        using var marten = leg == Marten ? await MartenRebuild.OpenAsync(eventStore) : null;
        var runs = new List<LegRun>(repeat);
        for (var i = 0; i < repeat; i++)
        {
            // CPU is read when the leg's work ends, before it closes its connections: PostgreSQL's backends for them
            // are processes of their own and take their CPU time with them when they exit.
            var cpu = ProcessCpu.Start();
            IReadOnlyDictionary<string, double> cpuSeconds = new Dictionary<string, double>();
            void Done() => cpuSeconds = cpu.Elapsed();
            await using var peak = PeakMemory.Start();
            var (events, elapsed, table) = leg switch
            {
                Marten => await MartenAsync(marten!, eventStore, Done),
                ApplyFloor => await Tabled(Floors.ApplyAsync(eventStore, readModels, redis, batchSize, Done), Floors.ApplySchema + ".accounts"),
                Floor => await Tabled(Floors.SqlAsync(eventStore, readModels, redis, Done), Floors.FloorSchema + ".accounts"),
                _ => throw new ArgumentException($"'{leg}' is not an in-process leg."),
            };
            var mib = await peak.StopAsync();
            var hash = await BalancesHash.OfAsync(leg == Marten ? eventStore : readModels, table, marten: leg == Marten);
            var run = new LegRun(leg, events, elapsed.TotalSeconds, events / elapsed.TotalSeconds, cpuSeconds, mib, hash);
            measured?.Invoke(run);
            runs.Add(run);
        }

        return runs;
    }

    /// <summary>A rebuild of the balances consumer through the running system (replay, or replay-no-redis).</summary>
    public static async Task<LegRun> RunReplayAsync(string leg, Uri api, string readModels, int batchSize)
    {
        var rebuild = await Rebuild.RunAsync(api, "balances", batchSize);
        var hash = await BalancesHash.OfAsync(readModels, "balances.accounts", marten: false);
        return new LegRun(leg, rebuild.Events, rebuild.Seconds, rebuild.EventsPerSecond, rebuild.CpuSeconds, rebuild.PeakMiB, hash);
    }

    /// <summary>Deposits through the load balancer for <paramref name="seconds"/>: commands/s and command-to-visible delay.</summary>
    public static async Task<LegRun> RunLiveAsync(Uri api, int concurrency, int seconds)
    {
        await using var peak = PeakMemory.Start();
        var live = await LiveLoad.RunAsync(api, concurrency, TimeSpan.FromSeconds(seconds));
        var mib = await peak.StopAsync();
        return new LegRun(Live, live.Commands, live.Seconds, live.CommandsPerSecond, live.CpuSeconds, mib, null,
            live.VisibleDelayMs.P50, live.VisibleDelayMs.P99);
    }

    private static async Task<(long, TimeSpan, string)> MartenAsync(Marten.DocumentStore store, string postgres, Action done)
    {
        var elapsed = await MartenRebuild.RunAsync(store, done);
        await using var dataSource = NpgsqlDataSource.Create(postgres);
        await using var count = dataSource.CreateCommand("select count(*) from producer.mt_events where type <> 'tombstone'");
        return ((long)(await count.ExecuteScalarAsync())!, elapsed, MartenRebuild.Table);
    }

    private static async Task<(long, TimeSpan, string)> Tabled(Task<(long Events, TimeSpan Elapsed)> run, string table)
    {
        var (events, elapsed) = await run;
        return (events, elapsed, table);
    }
}

/// <summary>Peak resident memory per process role, sampled every 500 ms until stopped.</summary>
public sealed class PeakMemory : IAsyncDisposable
{
    private readonly Dictionary<string, double> _peak = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _sampling;

    private PeakMemory() => _sampling = SampleAsync();

    public static PeakMemory Start() => new();

    public async Task<IReadOnlyDictionary<string, double>> StopAsync()
    {
        await _stop.CancelAsync();
        await _sampling;
        Sample();
        return _peak;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _sampling;
        _stop.Dispose();
    }

    private async Task SampleAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Sample();
            try
            {
                await Task.Delay(500, _stop.Token); // sampling interval
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void Sample()
    {
        foreach (var (role, mib) in ProcessCpu.ResidentMiB())
        {
            _peak[role] = Math.Max(_peak.GetValueOrDefault(role), mib);
        }
    }
}

/// <summary>
/// A hash of a balances table's rows sorted by account (id, owner, balance, status, version): equal hashes mean two
/// legs computed the same read model.
/// </summary>
public static class BalancesHash
{
    public static async Task<string> OfAsync(string postgres, string table, bool marten)
    {
        var row = marten
            ? "data ->> 'id' as account_id, data ->> 'owner' as owner, (data ->> 'balance')::numeric(22, 2) as balance, data ->> 'status' as status, (data ->> 'version')::bigint as version"
            : "account_id, owner, balance::numeric(22, 2) as balance, status, version";
        await using var dataSource = NpgsqlDataSource.Create(postgres);
        await using var command = dataSource.CreateCommand(
            $"""
            select count(*) || ':' || md5(coalesce(string_agg(account_id || '|' || owner || '|' || balance || '|' || status || '|' || version, ','
                   order by account_id), ''))
            from (select {row} from {table}) r
            """);
        command.CommandTimeout = 600;
        return (string)(await command.ExecuteScalarAsync())!;
    }
}
