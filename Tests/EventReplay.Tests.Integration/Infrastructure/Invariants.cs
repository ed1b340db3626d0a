using System.Collections.Concurrent;
using System.Text.Json;
using EventReplay.Tests.Integration.Pipeline;
using Npgsql;
using StackExchange.Redis;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>A command the API acknowledged (2xx): the event it says it appended.</summary>
public sealed record Acknowledged(string AccountId, long Version, long Position, string Type, decimal? Amount);

/// <summary>
/// What a test's clients were told: every acknowledged command (to be found in the log afterwards, once) and every
/// read of an account whose version was older than a read of it before.
/// </summary>
public sealed class Ledger
{
    private readonly ConcurrentQueue<Acknowledged> _acknowledged = new();
    private readonly ConcurrentQueue<string> _wentBack = new();
    private int _reads;

    public IReadOnlyCollection<Acknowledged> Acknowledged => _acknowledged;

    public IReadOnlyCollection<string> ReadsGoneBack => _wentBack;

    public int Reads => _reads;

    public void Add(Acknowledged acknowledged) => _acknowledged.Enqueue(acknowledged);

    public void Read() => Interlocked.Increment(ref _reads);

    public void WentBack(string read) => _wentBack.Enqueue(read);
}

/// <summary>
/// The checks every fault scenario ends with, once the pipeline has drained: acknowledged commands lost = 0, effects
/// applied twice = 0, every read model equals the fold of the log, the cache holds no version older than
/// PostgreSQL's; and no read the clients made went back in version.
/// </summary>
public static class Invariants
{
    public static async Task AssertAllAsync(ProducerApi api, Ledger ledger, string postgres, string redis)
    {
        var log = await api.AllEventsAsync();
        var recorded = log.ToDictionary(e => (e.GetProperty("streamId").GetString()!, e.GetProperty("version").GetInt64()));
        var acknowledged = ledger.Acknowledged.ToList();

        // Lost: acknowledged, and not in the log as acknowledged (same stream version, position, type and amount).
        var lost = acknowledged.Where(a => !recorded.TryGetValue((a.AccountId, a.Version), out var e) || !Matches(a, e))
            .Select(a => $"{a.AccountId} v{a.Version} {a.Type} at {a.Position}").ToList();

        // Applied twice on the write side: an event on the load's accounts that no acknowledgement accounts for. Every
        // command was retried with its key until a definitive answer, so an extra event is a retry that appended again.
        var ours = acknowledged.Select(a => a.AccountId).ToHashSet();
        var told = acknowledged.Select(a => (a.AccountId, a.Version)).ToHashSet();
        var unaccounted = recorded.Keys.Where(key => ours.Contains(key.Item1) && !told.Contains(key))
            .Select(key => $"{key.Item1} v{key.Item2} {recorded[key].GetProperty("type").GetString()}").ToList();
        var toldTwice = acknowledged.GroupBy(a => (a.AccountId, a.Version)).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key.AccountId} v{g.Key.Version} acknowledged {g.Count()} times").ToList();

        Assert.Multiple(() =>
        {
            Assert.That(lost, Is.Empty, $"acknowledged commands missing from the log ({acknowledged.Count} acknowledged)");
            Assert.That(unaccounted.Concat(toldTwice), Is.Empty, "events appended twice for one command");
            Assert.That(ledger.ReadsGoneBack, Is.Empty, $"reads that went back in version ({ledger.Reads} reads)");
        });

        // Applied twice on the read side: a double-applied event makes a balance or a count differ from the fold.
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(api, postgres);
        var cached = await AssertCacheNotBehindAsync(postgres, redis);
        await TestContext.Out.WriteLineAsync(
            $"invariants hold: {acknowledged.Count} acknowledged commands all in the log of {log.Count} events, none appended twice; "
            + $"read models equal the fold; {cached} cache entries none older than PostgreSQL; {ledger.Reads} reads, none went back");
    }

    /// <summary>
    /// Every balance in the live cache generation is at PostgreSQL's version (never older), and so are the totals;
    /// returns how many entries were compared.
    /// </summary>
    public static async Task<int> AssertCacheNotBehindAsync(string postgres, string redis)
    {
        // The cache is written just after each commit: give the last writes (and a repair after a failure) their moment.
        await using var cache = await ConnectionMultiplexer.ConnectAsync(redis);
        var check = await Eventually.Until(() => BehindAsync(postgres, cache.GetDatabase()),
            found => found.Behind.Count == 0, LivePipelineTests.Settle, "the cache to hold no version older than PostgreSQL's");
        return check.Compared;
    }

    private sealed record CacheCheck(List<string> Behind, int Compared)
    {
        public override string ToString() => $"{Behind.Count} of {Compared} entries behind: {string.Join("; ", Behind.Take(5))}";
    }

    private static async Task<CacheCheck> BehindAsync(string postgres, IDatabase database)
    {
        // Read PostgreSQL afresh each time: a cut-over may have moved the live generation since the last look.
        var rows = new Dictionary<string, long>();
        int balancesGeneration, statisticsGeneration;
        long statisticsPosition;
        await using (var connection = new NpgsqlConnection(postgres))
        {
            await connection.OpenAsync();
            balancesGeneration = (int)await Database.ScalarAsync(connection, "select generation from balances.meta");
            statisticsGeneration = (int)await Database.ScalarAsync(connection, "select generation from statistics.meta");
            statisticsPosition = await Database.ScalarAsync(connection, "select position from statistics.totals");
            await using var command = new NpgsqlCommand("select account_id, version from balances.accounts", connection);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                rows[reader.GetString(0)] = reader.GetInt64(1);
            }
        }

        var behind = new List<string>();
        var compared = 0;
        foreach (var chunk in rows.Chunk(1000))
        {
            var versions = await Task.WhenAll(chunk.Select(row => database.HashGetAsync($"balances:v{balancesGeneration}:account:{row.Key}", "version")));
            compared += versions.Count(version => !version.IsNull);
            behind.AddRange(chunk.Zip(versions).Where(pair => !pair.Second.IsNull && (long)pair.Second < pair.First.Value)
                .Select(pair => $"{pair.First.Key}: cache v{(long)pair.Second}, PostgreSQL v{pair.First.Value}"));
        }

        var totals = await database.HashGetAsync($"statistics:v{statisticsGeneration}:totals", "version");
        compared += totals.IsNull ? 0 : 1;
        if (!totals.IsNull && (long)totals < statisticsPosition)
        {
            behind.Add($"statistics: cache position {(long)totals}, PostgreSQL {statisticsPosition}");
        }

        return new CacheCheck(behind, compared);
    }

    private static bool Matches(Acknowledged acknowledged, JsonElement recorded) =>
        recorded.GetProperty("type").GetString() == acknowledged.Type
        && recorded.GetProperty("position").GetInt64() == acknowledged.Position
        && (acknowledged.Amount is null || recorded.GetProperty("data").GetProperty("amount").GetDecimal() == acknowledged.Amount);
}
