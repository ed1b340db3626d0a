using System.Text;
using CommunityToolkit.HighPerformance.Buffers;
using EventReplay.Contracts;
using Npgsql;

namespace EventReplay.EventLog;

/// <summary>
/// Reads the log straight from Marten's events table, never past the safe head (see <see cref="AppendLock"/>),
/// so a reader paging by position never skips an event that commits later.
/// </summary>
public static class EventLogReader
{
    public const string Schema = EventTable.Schema;

    private const string Columns = EventTable.Columns;

    /// <summary>Events after a position, or null when appends in flight kept the safe head from being known.</summary>
    public static async Task<IReadOnlyList<RecordedEvent>?> ReadAllAsync(NpgsqlDataSource dataSource, long after, int limit,
        CancellationToken cancellationToken) =>
        await ReadAfterAsync(dataSource, after, limit, Columns, Map, cancellationToken);

    /// <summary>
    /// As <see cref="ReadAllAsync"/>, with the traceparent each event was appended under, for publishing; on the given
    /// connection (the publisher's own, see <c>EventPublisher</c>).
    /// </summary>
    public static async Task<IReadOnlyList<TracedEvent>?> ReadTracedAsync(NpgsqlConnection connection, long after, int limit,
        CancellationToken cancellationToken) =>
        await ReadAfterAsync(connection, after, limit, $"{Columns}, headers ->> '{EventTable.TraceParentHeader}'",
            reader => new TracedEvent(Map(reader), reader.IsDBNull(6) ? null : reader.GetString(6)), cancellationToken);

    private static async Task<IReadOnlyList<T>?> ReadAfterAsync<T>(NpgsqlDataSource dataSource, long after, int limit,
        string columns, Func<NpgsqlDataReader, T> map, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await ReadAfterAsync(connection, after, limit, columns, map, cancellationToken);
    }

    private static async Task<IReadOnlyList<T>?> ReadAfterAsync<T>(NpgsqlConnection connection, long after, int limit,
        string columns, Func<NpgsqlDataReader, T> map, CancellationToken cancellationToken)
    {
        var head = await AppendLock.SafeHeadAsync(connection, Schema, cancellationToken);
        if (head is null)
        {
            return null;
        }

        if (head <= after)
        {
            return [];
        }

        await using var command = new NpgsqlCommand(
            $"select {columns} from {Schema}.mt_events where seq_id > @after and seq_id <= @head and type <> '{EventTable.Tombstone}' order by seq_id limit @limit",
            connection);
        command.Parameters.AddWithValue("after", after);
        command.Parameters.AddWithValue("head", head.Value);
        command.Parameters.AddWithValue("limit", limit);
        return await ReadAsync(command, map, cancellationToken);
    }

    public static async Task<IReadOnlyList<RecordedEvent>> ReadStreamAsync(NpgsqlDataSource dataSource, string streamId,
        long fromVersion, int limit, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"select {Columns} from {Schema}.mt_events where stream_id = @stream and version >= @from order by version limit @limit");
        command.Parameters.AddWithValue("stream", streamId);
        command.Parameters.AddWithValue("from", fromVersion);
        command.Parameters.AddWithValue("limit", limit);
        return await ReadAsync(command, Map, cancellationToken);
    }

    public static async Task<bool> StreamExistsAsync(NpgsqlDataSource dataSource, string streamId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"select exists(select 1 from {Schema}.mt_streams where id = @stream)");
        command.Parameters.AddWithValue("stream", streamId);
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>A stream's events in version order with the traceparent each was appended under (at most <paramref name="limit"/>).</summary>
    public static async Task<IReadOnlyList<TracedEvent>> ReadStreamTracedAsync(NpgsqlDataSource dataSource, string streamId, int limit,
        CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"select {Columns}, headers ->> '{EventTable.TraceParentHeader}' from {Schema}.mt_events where stream_id = @stream order by version limit @limit");
        command.Parameters.AddWithValue("stream", streamId);
        command.Parameters.AddWithValue("limit", limit);
        return await ReadAsync(command, reader => new TracedEvent(Map(reader), reader.IsDBNull(6) ? null : reader.GetString(6)), cancellationToken);
    }

    /// <summary>
    /// Up to <paramref name="limit"/> events after <paramref name="after"/> and up to <paramref name="upTo"/>, in
    /// position order, with no safe-head wait: for a caller that already knows everything up to <paramref name="upTo"/>
    /// is committed (a rebuild's tail up to a head it took under its own lock).
    /// </summary>
    public static async Task<IReadOnlyList<RecordedEvent>> ReadRangeAsync(NpgsqlDataSource dataSource, long after, long upTo, int limit,
        CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"select {Columns} from {Schema}.mt_events where seq_id > @after and seq_id <= @upTo and type <> '{EventTable.Tombstone}' order by seq_id limit @limit");
        command.Parameters.AddWithValue("after", after);
        command.Parameters.AddWithValue("upTo", upTo);
        command.Parameters.AddWithValue("limit", limit);
        return await ReadAsync(command, Map, cancellationToken);
    }

    /// <summary>How many events a selection holds.</summary>
    public static async Task<long> CountAsync(NpgsqlConnection connection, LogSelection selection, CancellationToken cancellationToken)
    {
        await using var command = Selected(selection, "count(*)", null, connection);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>
    /// Reads up to <paramref name="limit"/> selected events in position order, handing each to <paramref name="write"/>
    /// as it comes (its text columns as the store's UTF-8, valid only during the call); returns how many it read.
    /// </summary>
    public static async Task<int> ReadRowsAsync(NpgsqlConnection connection, LogSelection selection, int limit, EventRowWriter write,
        CancellationToken cancellationToken)
    {
        await using var command = Selected(selection, Columns, limit, connection);
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

    private static NpgsqlCommand Selected(LogSelection selection, string columns, int? limit, NpgsqlConnection connection)
    {
        var sql = new StringBuilder($"select {columns} from {EventTable.Name} where seq_id > @after and seq_id <= @to and type <> '{EventTable.Tombstone}'");
        var command = new NpgsqlCommand { Connection = connection };
        command.Parameters.AddWithValue("after", selection.After);
        command.Parameters.AddWithValue("to", selection.To);
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

    private static async Task<IReadOnlyList<T>> ReadAsync<T>(NpgsqlCommand command, Func<NpgsqlDataReader, T> map,
        CancellationToken cancellationToken)
    {
        var events = new List<T>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            events.Add(map(reader));
        }

        return events;
    }

    private static RecordedEvent Map(NpgsqlDataReader reader) => EventTable.Map(reader);
}

/// <summary>Which events of the log a reader wants: a position range, optionally narrowed by time, streams and types.</summary>
public sealed record LogSelection(long After, long To, DateTimeOffset? FromTime = null, DateTimeOffset? ToTime = null,
    string[]? StreamIds = null, string[]? EventTypes = null);

/// <summary>An event row as <see cref="EventLogReader.ReadRowsAsync"/> hands it over: the text columns as the store's UTF-8, valid only during the call.</summary>
public delegate void EventRowWriter(long position, ReadOnlySpan<byte> streamId, long version, ReadOnlySpan<byte> type,
    DateTimeOffset timestamp, ReadOnlySpan<byte> data);

/// <summary>A committed event with the W3C traceparent of the request that appended it, if any.</summary>
public sealed record TracedEvent(RecordedEvent Event, string? TraceParent);
