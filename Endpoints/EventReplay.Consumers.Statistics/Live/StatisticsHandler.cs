using EventReplay.Consumers.Statistics.Statistics;
using EventReplay.Contracts;
using EventReplay.Hosting;
using EventReplay.Messaging;
using Npgsql;

namespace EventReplay.Consumers.Statistics.Live;

/// <summary>
/// Applies batches (live or replayed) to a copy of the statistics read model, then to the cache generation of the copy
/// it was applied to (as found under the apply lock); a failed cache write is done again from PostgreSQL
/// (<see cref="ReadModelCopies.RepairCacheAsync"/>).
/// </summary>
public sealed class StatisticsHandler(StatisticsStore store, VersionedCache cache, ReadModelCopies copies) : IEventBatchHandler
{
    public Task EnsureSchemaAsync(string schema, CancellationToken cancellationToken) => store.EnsureSchemaAsync(schema, cancellationToken);

    public Task<long> CheckpointAsync(NpgsqlConnection connection, string schema, CancellationToken cancellationToken) =>
        StatisticsStore.CheckpointAsync(connection, schema, cancellationToken);

    public async Task<BatchOutcome> ApplyAsync(IReadOnlyList<RecordedEvent> batch, ReadModelCopy copy, CancellationToken cancellationToken)
    {
        var (result, apply) = await store.ApplyAsync(batch, copy, copies, cancellationToken);
        if (await cache.SetAsync([(StatisticsEndpoints.CacheKey(apply.Copy.Generation), result.Totals.Position, result.Totals)]))
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

    public async Task<bool> RecacheAsync(NpgsqlConnection connection, ReadModelCopy copy, long[] applies, CancellationToken cancellationToken)
    {
        var totals = await StatisticsStore.ReadTotalsAsync(connection, copy.Schema, forUpdate: false, cancellationToken);
        return await cache.SetAsync([(StatisticsEndpoints.CacheKey(copy.Generation), totals.Position, totals)]);
    }
}
