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

/// <summary>A committed event with the W3C traceparent of the request that appended it, if any.</summary>
public sealed record TracedEvent(RecordedEvent Event, string? TraceParent);
