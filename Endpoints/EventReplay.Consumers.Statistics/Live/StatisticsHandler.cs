using EventReplay.Consumers.Statistics.Statistics;
using EventReplay.Contracts;
using EventReplay.Hosting;
using EventReplay.Hosting.Consuming;

namespace EventReplay.Consumers.Statistics.Live;

/// <summary>Applies batches to the statistics read model, then to the cache; a failed cache write is redone when idle.</summary>
public sealed class StatisticsHandler(StatisticsStore store, VersionedCache cache) : IEventBatchHandler
{
    private volatile bool _uncached;

    public async Task<BatchOutcome> ApplyAsync(IReadOnlyList<RecordedEvent> batch, CancellationToken cancellationToken)
    {
        var result = await store.ApplyAsync(batch, cancellationToken);
        _uncached = !await cache.SetAsync([(StatisticsEndpoints.CacheKey, result.Totals.Position, result.Totals)]);
        return new BatchOutcome(result.Applied, result.Duplicates, result.Gaps.Count,
            [.. result.Invalid.Select(invalid => new Rejected(invalid.Event, invalid.Reason))]);
    }

    public async Task IdleAsync(CancellationToken cancellationToken)
    {
        if (_uncached)
        {
            var totals = await store.GetAsync(cancellationToken);
            _uncached = !await cache.SetAsync([(StatisticsEndpoints.CacheKey, totals.Position, totals)]);
        }
    }
}
