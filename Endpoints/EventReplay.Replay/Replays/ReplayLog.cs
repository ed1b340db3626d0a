using System.Text;
using EventReplay.Contracts;
using EventReplay.Hosting.EventLog;
using Npgsql;

namespace EventReplay.Replay.Replays;

/// <summary>Reads the event store for replays: the safe head, how many events a selection holds, and one batch.</summary>
public sealed class ReplayLog(NpgsqlDataSource dataSource)
{
    /// <summary>The selection's end (capped at the safe head) and its event count; null while appends hold the head back.</summary>
    public async Task<(long To, long Total)?> PlanAsync(ReplaySelection selection, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        if (await AppendLock.SafeHeadAsync(connection, EventTable.Schema, cancellationToken) is not { } head)
        {
            return null;
        }

        var to = Math.Min(selection.ToPosition, head);
        await using var command = Query(selection with { ToPosition = to }, selection.FromPosition - 1, "count(*)", null, connection);
        return (to, (long)(await command.ExecuteScalarAsync(cancellationToken))!);
    }

    /// <summary>Up to <paramref name="limit"/> selected events after a position, in position order.</summary>
    public async Task<IReadOnlyList<LoggedEvent>> ReadAsync(ReplaySelection selection, long after, int limit,
        CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = Query(selection, after, EventTable.Columns, limit, connection);
        var events = new List<LoggedEvent>(Math.Min(limit, 10_000));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            events.Add(EventTable.Map(reader, (position, streamId, version, type, timestamp, data) =>
                new LoggedEvent(position, streamId, version, type, timestamp, data)));
        }

        return events;
    }

    private static NpgsqlCommand Query(ReplaySelection selection, long after, string columns, int? limit, NpgsqlConnection connection)
    {
        var sql = new StringBuilder($"select {columns} from {EventTable.Name} where seq_id > @after and seq_id <= @to and type <> '{EventTable.Tombstone}'");
        var command = new NpgsqlCommand { Connection = connection };
        command.Parameters.AddWithValue("after", after);
        command.Parameters.AddWithValue("to", selection.ToPosition);
        if (selection.StreamIds is { } streams)
        {
            sql.Append(" and stream_id = any(@streams)");
            command.Parameters.Add(new NpgsqlParameter<string[]>("streams", streams));
        }

        if (selection.EventTypes is { } types)
        {
            sql.Append(" and type = any(@types)");
            command.Parameters.Add(new NpgsqlParameter<string[]>("types", types));
        }

        if (selection.FromTime is { } fromTime)
        {
            sql.Append(" and timestamp >= @fromTime");
            command.Parameters.AddWithValue("fromTime", fromTime);
        }

        if (selection.ToTime is { } toTime)
        {
            sql.Append(" and timestamp <= @toTime");
            command.Parameters.AddWithValue("toTime", toTime);
        }

        if (limit is { } rows)
        {
            sql.Append(" order by seq_id limit @limit");
            command.Parameters.AddWithValue("limit", rows);
        }

        command.CommandText = sql.ToString();
        return command;
    }
}
