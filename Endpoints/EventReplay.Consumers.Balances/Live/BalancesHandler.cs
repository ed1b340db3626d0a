using EventReplay.Consumers.Balances.Balances;
using EventReplay.Contracts;
using EventReplay.Messaging;
using Npgsql;

namespace EventReplay.Consumers.Balances.Live;

/// <summary>
/// Applies batches of recorded events (live or replayed) to a copy of the balances read model, then to the cache
/// generation of the copy it was applied to (as found under the apply lock). A cache write that fails stays recorded
/// in PostgreSQL and is done again from there (<see cref="ReadModelCopies.RepairCacheAsync"/>), so the cache converges
/// even across a restart. <c>Balances:CacheWrites=false</c> turns the cache writes off, for benchmarks that measure
/// Redis's share of applying (reads may then serve cache entries that are behind).
/// </summary>
public sealed class BalancesHandler(BalanceStore store, BalanceCache cache, ReadModelCopies copies, IConfiguration configuration)
    : IEventBatchHandler
{
    private readonly bool _cacheWrites = configuration.GetValue("Balances:CacheWrites", true);

    public Task EnsureSchemaAsync(string schema, CancellationToken cancellationToken) => store.EnsureSchemaAsync(schema, cancellationToken);

    public Task<long> CheckpointAsync(NpgsqlConnection connection, string schema, CancellationToken cancellationToken) =>
        BalanceStore.CheckpointAsync(connection, schema, cancellationToken);

    public async Task<BatchOutcome> ApplyAsync(IReadOnlyList<RecordedEvent> batch, ReadModelCopy copy, CancellationToken cancellationToken)
    {
        var (result, apply) = await store.ApplyAsync(batch, copy, copies, cancellationToken);
        if (!_cacheWrites || await cache.SetAsync(result.Changed, apply.Copy))
        {
            copies.CacheWritten(apply);
        }
        else
        {
            copies.CacheWriteFailed();
        }

        return new BatchOutcome(result.Applied, result.Duplicates, result.Gaps.Count,
            [.. result.Invalid.Select(invalid => new Rejected(invalid.Event, invalid.Reason))]);
    }

    public async Task<bool> RecacheAsync(NpgsqlConnection connection, ReadModelCopy copy, long[] applies, CancellationToken cancellationToken) =>
        !_cacheWrites || await cache.SetAsync(await BalanceStore.ChangedByAsync(connection, copy.Schema, applies, cancellationToken), copy);
}
