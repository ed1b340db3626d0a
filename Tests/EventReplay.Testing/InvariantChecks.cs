using System.Text.Json;
using Npgsql;
using StackExchange.Redis;

namespace EventReplay.Testing;

/// <summary>One invariant after a run: whether it holds, and what was found (the first offenders when it does not).</summary>
public sealed record InvariantCheck(string Name, bool Holds, string Detail);

/// <summary>What the ledger says against the log: acknowledged commands lost, commands appended twice, reads gone back.</summary>
public sealed record LedgerFindings(int Acknowledged, int LogEvents, IReadOnlyList<string> Lost, IReadOnlyList<string> AppendedTwice,
    IReadOnlyList<string> ReadsGoneBack, int Reads);

/// <summary>Balances and totals in the live cache generation that are older than PostgreSQL's, out of how many compared.</summary>
public sealed record CacheFindings(IReadOnlyList<string> Behind, int Compared)
{
    public override string ToString() => $"{Behind.Count} of {Compared} entries behind: {string.Join("; ", Behind.Take(5))}";
}

/// <summary>
/// The checks a run under faults ends with, once the pipeline has drained: acknowledged commands lost = 0, effects
/// applied twice = 0, every read model equals the fold of the log, the cache holds no version older than
/// PostgreSQL's; and no read the clients made went back in version. The integration tests assert on each part;
/// <see cref="RunAllAsync"/> reports them all, for a run that prints its findings instead.
/// </summary>
public static class InvariantChecks
{
    public static readonly TimeSpan Settle = TimeSpan.FromSeconds(30);

    /// <summary>Every check, each one's failure (a wait that ran out included) reported rather than thrown.</summary>
    public static async Task<IReadOnlyList<InvariantCheck>> RunAllAsync(ProducerApi api, Ledger ledger, string postgres, string redis, TimeSpan? settle = null)
    {
        var checks = new List<InvariantCheck>();
        var found = CheckLedger(await api.AllEventsAsync(), ledger);
        checks.Add(Check("acknowledged commands lost = 0", found.Lost,
            $"{found.Acknowledged} acknowledged commands, all in the log of {found.LogEvents} events"));
        checks.Add(Check("commands appended twice = 0", found.AppendedTwice, "no event that an acknowledgement does not account for"));
        checks.Add(await CheckAsync("read models equal the fold of the log (nothing applied twice or missed)", async () =>
        {
            var comparison = await LogFold.CompareAsync(api, postgres, settle ?? Settle);
            return (comparison.Differences(), $"{comparison.ExpectedBalances.Count} balances and the statistics (position {comparison.ExpectedStatistics.Position}) equal the fold");
        }));
        checks.Add(await CheckAsync("cache holds no version older than PostgreSQL", async () =>
        {
            var cache = await CacheNotBehindAsync(postgres, redis, settle ?? Settle);
            return (cache.Behind, $"{cache.Compared} cache entries compared, none older");
        }));
        checks.Add(Check("reads never went back", found.ReadsGoneBack, $"{found.Reads} reads, none older than one before"));
        return checks;
    }

    /// <summary>The ledger against the log (every page of <c>GET /api/events</c>).</summary>
    public static LedgerFindings CheckLedger(IReadOnlyList<JsonElement> log, Ledger ledger)
    {
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
            .Select(key => $"{key.Item1} v{key.Item2} {recorded[key].GetProperty("type").GetString()}");
        var toldTwice = acknowledged.GroupBy(a => (a.AccountId, a.Version)).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key.AccountId} v{g.Key.Version} acknowledged {g.Count()} times");
        return new LedgerFindings(acknowledged.Count, log.Count, lost, [.. unaccounted.Concat(toldTwice)], [.. ledger.ReadsGoneBack], ledger.Reads);
    }

    /// <summary>
    /// Waits up to <paramref name="settle"/> until every balance in the live cache generation is at PostgreSQL's version
    /// (never older), and so are the totals; throws <see cref="TimeoutException"/> naming the entries still behind.
    /// </summary>
    public static async Task<CacheFindings> CacheNotBehindAsync(string postgres, string redis, TimeSpan settle)
    {
        // The cache is written just after each commit: give the last writes (and a repair after a failure) their moment.
        await using var cache = await ConnectionMultiplexer.ConnectAsync(redis);
        return await Eventually.Until(() => BehindAsync(postgres, cache.GetDatabase()),
            found => found.Behind.Count == 0, settle, "the cache to hold no version older than PostgreSQL's");
    }

    private static InvariantCheck Check(string name, IReadOnlyList<string> offenders, string holds) =>
        new(name, offenders.Count == 0, offenders.Count == 0 ? holds : $"{offenders.Count}: {string.Join("; ", offenders.Take(10))}");

    private static async Task<InvariantCheck> CheckAsync(string name, Func<Task<(IReadOnlyList<string> Offenders, string Holds)>> check)
    {
        try
        {
            var (offenders, holds) = await check();
            return Check(name, offenders, holds);
        }
        catch (Exception exception) when (exception is TimeoutException or UnexpectedStatusException or HttpRequestException or NpgsqlException or RedisException)
        {
            return new InvariantCheck(name, false, exception.Message);
        }
    }

    private static async Task<CacheFindings> BehindAsync(string postgres, IDatabase database)
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

        return new CacheFindings(behind, compared);
    }

    private static bool Matches(Acknowledged acknowledged, JsonElement recorded) =>
        recorded.GetProperty("type").GetString() == acknowledged.Type
        && recorded.GetProperty("position").GetInt64() == acknowledged.Position
        && (acknowledged.Amount is null || recorded.GetProperty("data").GetProperty("amount").GetDecimal() == acknowledged.Amount);
}
