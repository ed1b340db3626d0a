using System.Collections.Concurrent;
using EventReplay.Consumers.Balances.Balances;
using EventReplay.Contracts;
using EventReplay.Hosting.Consuming;

namespace EventReplay.Consumers.Balances.Live;

/// <summary>
/// Applies batches of recorded events to the balances read model, then to the cache. Rows whose cache write
/// failed (Redis away) are written again from PostgreSQL once Redis answers, so the cache converges.
/// </summary>
public sealed class BalancesHandler(BalanceStore store, BalanceCache cache) : IEventBatchHandler
{
    private readonly ConcurrentDictionary<string, byte> _uncached = new();

    public async Task<BatchOutcome> ApplyAsync(IReadOnlyList<RecordedEvent> batch, CancellationToken cancellationToken)
    {
        var result = await store.ApplyAsync(batch, cancellationToken);
        if (!await cache.SetAsync(result.Changed))
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
