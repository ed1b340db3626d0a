using EventReplay.Consumers.Statistics.Statistics;
using EventReplay.Contracts;
using EventReplay.Hosting;
using EventReplay.Hosting.Consuming;
using Npgsql;

namespace EventReplay.Consumers.Statistics.Live;

/// <summary>
/// Applies batches (live or replayed) to a copy of the statistics read model, then to that copy's cache generation;
/// a failed cache write of the live copy is redone when idle.
/// </summary>
public sealed class StatisticsHandler(StatisticsStore store, VersionedCache cache, ReadModelCopies copies) : IEventBatchHandler
{
    private volatile bool _uncached;

    public Task EnsureSchemaAsync(string schema, CancellationToken cancellationToken) => store.EnsureSchemaAsync(schema, cancellationToken);

    public Task<long> CheckpointAsync(NpgsqlConnection connection, string schema, CancellationToken cancellationToken) =>
        StatisticsStore.CheckpointAsync(connection, schema, cancellationToken);

    public async Task<BatchOutcome> ApplyAsync(IReadOnlyList<RecordedEvent> batch, ReadModelCopy copy, CancellationToken cancellationToken)
    {
        var result = await store.ApplyAsync(batch, copy.Schema, cancellationToken);
        var cached = await cache.SetAsync([(StatisticsEndpoints.CacheKey(copy.Generation), result.Totals.Position, result.Totals)]);
        if (copy == copies.Live)
        {
            _uncached = !cached;
        }

        return new BatchOutcome(result.Applied, result.Duplicates, result.Gaps.Count,
            [.. result.Invalid.Select(invalid => new Rejected(invalid.Event, invalid.Reason))]);
    }

    public async Task IdleAsync(CancellationToken cancellationToken)
    {
        if (_uncached)
        {
            var totals = await store.GetAsync(cancellationToken);
            _uncached = !await cache.SetAsync([(StatisticsEndpoints.CacheKey(copies.Live.Generation), totals.Position, totals)]);
        }
    }
}
