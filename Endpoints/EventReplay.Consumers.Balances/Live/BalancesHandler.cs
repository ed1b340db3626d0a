using System.Collections.Concurrent;
using EventReplay.Consumers.Balances.Balances;
using EventReplay.Contracts;
using EventReplay.Hosting.Consuming;
using Npgsql;

namespace EventReplay.Consumers.Balances.Live;

/// <summary>
/// Applies batches of recorded events (live or replayed) to a copy of the balances read model, then to that copy's
/// cache generation. Live rows whose cache write failed (Redis away) are written again from PostgreSQL once Redis
/// answers, so the cache converges. <c>Balances:CacheWrites=false</c> turns the cache writes off, for benchmarks that
/// measure Redis's share of applying (reads may then serve cache entries that are behind).
/// </summary>
public sealed class BalancesHandler(BalanceStore store, BalanceCache cache, ReadModelCopies copies, IConfiguration configuration)
    : IEventBatchHandler
{
    private readonly ConcurrentDictionary<string, byte> _uncached = new();

    private readonly bool _cacheWrites = configuration.GetValue("Balances:CacheWrites", true);

    public Task EnsureSchemaAsync(string schema, CancellationToken cancellationToken) => store.EnsureSchemaAsync(schema, cancellationToken);

    public Task<long> CheckpointAsync(NpgsqlConnection connection, string schema, CancellationToken cancellationToken) =>
        BalanceStore.CheckpointAsync(connection, schema, cancellationToken);

    public async Task<BatchOutcome> ApplyAsync(IReadOnlyList<RecordedEvent> batch, ReadModelCopy copy, CancellationToken cancellationToken)
    {
        var result = await store.ApplyAsync(batch, copy.Schema, cancellationToken);
        if (_cacheWrites && !await cache.SetAsync(result.Changed, copy) && copy == copies.Live)
        {
            foreach (var row in result.Changed)
            {
                _uncached[row.AccountId] = 0;
            }
        }

        return new BatchOutcome(result.Applied, result.Duplicates, result.Gaps.Count,
            [.. result.Invalid.Select(invalid => new Rejected(invalid.Event, invalid.Reason))]);
    }

    public async Task IdleAsync(CancellationToken cancellationToken)
    {
        if (_uncached.IsEmpty)
        {
            return;
        }

        var ids = _uncached.Keys.Take(1000).ToList();
        var rows = await store.FindManyAsync(ids, cancellationToken);
        if (await cache.SetAsync(rows))
        {
            foreach (var id in ids)
            {
                _uncached.TryRemove(id, out _);
            }
        }
    }
}
