using System.Text;
using CommunityToolkit.HighPerformance.Buffers;
using EventReplay.Contracts;
using EventReplay.EventLog;
using EventReplay.Hosting;
using Npgsql;

namespace EventReplay.Replay.Replays;

/// <summary>An event row as <see cref="ReplayLog.ReadAsync"/> hands it over: the text columns as the store's UTF-8, valid only during the call.</summary>
public delegate void EventRowWriter(long position, ReadOnlySpan<byte> streamId, long version, ReadOnlySpan<byte> type,
    DateTimeOffset timestamp, ReadOnlySpan<byte> data);

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
        await using var command = Query(selection with { ToPosition = to }, selection.FromPosition - 1, "count(*)", null, connection);
        return (to, (long)(await command.ExecuteScalarAsync(cancellationToken))!);
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
        await using var command = Query(selection, after, EventTable.Columns, limit, connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        using var text = new ArrayPoolBufferWriter<byte>();
        var count = 0;
        while (await reader.ReadAsync(cancellationToken))
        {
            // The columns' order is EventTable.Columns': seq_id, stream_id, version, type, timestamp, data::text. Read
            // out of order, which the default (not sequential-access) reader allows: it holds the whole row.
            text.Clear();
            var streamId = EventTable.AppendUtf8(reader, 1, text);
            var type = EventTable.AppendUtf8(reader, 3, text);
            var data = EventTable.AppendUtf8(reader, 5, text);
            var utf8 = text.WrittenSpan;
            write(reader.GetInt64(0), utf8[streamId], reader.GetInt64(2), utf8[type], reader.GetFieldValue<DateTimeOffset>(4), utf8[data]);
            count++;
        }

        return count;
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
            // PostgreSQL's timestamptz takes UTC from Npgsql: a time with another offset is the same instant in UTC.
            command.Parameters.AddWithValue("fromTime", fromTime.ToUniversalTime());
        }

        if (selection.ToTime is { } toTime)
        {
            sql.Append(" and timestamp <= @toTime");
            command.Parameters.AddWithValue("toTime", toTime.ToUniversalTime());
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
