using EventReplay.EventLog;
using EventReplay.Hosting;
using Npgsql;

namespace EventReplay.Replay.Replays;

/// <summary>Reads the event store for replays: the safe head, how many events a selection holds, and one batch.</summary>
public sealed class ReplayLog([FromKeyedServices(Databases.EventStore)] NpgsqlDataSource dataSource)
{
    /// <summary>The selection's end (capped at the safe head) and its event count; null while appends hold the head back.</summary>
    public async Task<(long To, long Total)?> PlanAsync(ReplaySelection selection, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        if (await AppendLock.SafeHeadAsync(connection, EventTable.Schema, cancellationToken) is not { } head)
        {
            return null;
        }

        // Every event up to the head is visible now; sent only once the synchronous standby holds them all.
        await SynchronousStandby.BarrierAsync(connection, transaction: null, cancellationToken);
        var to = Math.Min(selection.ToPosition, head);
        return (to, await EventLogReader.CountAsync(connection, Of(selection with { ToPosition = to }, selection.FromPosition - 1), cancellationToken));
    }

    /// <summary>
    /// Reads up to <paramref name="limit"/> selected events after a position, in position order, handing each to
    /// <paramref name="write"/> as it comes (its text columns as the store's UTF-8, valid only during the call); returns
    /// how many it read.
    /// </summary>
    public async Task<int> ReadAsync(ReplaySelection selection, long after, int limit, EventRowWriter write,
        CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await EventLogReader.ReadRowsAsync(connection, Of(selection, after), limit, write, cancellationToken);
    }

    private static LogSelection Of(ReplaySelection selection, long after) =>
        new(after, selection.ToPosition, selection.FromTime, selection.ToTime, selection.StreamIds, selection.EventTypes);
}
