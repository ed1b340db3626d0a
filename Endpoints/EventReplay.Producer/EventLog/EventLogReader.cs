using System.Text.Json;
using EventReplay.Contracts;
using Npgsql;

namespace EventReplay.Producer.EventLog;

/// <summary>
/// Reads the log straight from Marten's events table, never past the safe head (see <see cref="AppendLock"/>),
/// so a reader paging by position never skips an event that commits later.
/// </summary>
public static class EventLogReader
{
    public const string Schema = "producer";

    // Marten fills the positions of failed appends with tombstone rows; they are not events of ours.
    private const string MartenTombstone = "tombstone";

    private const string Columns = "seq_id, stream_id, version, type, timestamp, data::text";

    /// <summary>Events after a position, or null when appends in flight kept the safe head from being known.</summary>
    public static async Task<IReadOnlyList<RecordedEvent>?> ReadAllAsync(NpgsqlDataSource dataSource, long after, int limit,
        CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
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
            $"select {Columns} from {Schema}.mt_events where seq_id > @after and seq_id <= @head and type <> '{MartenTombstone}' order by seq_id limit @limit",
            connection);
        command.Parameters.AddWithValue("after", after);
        command.Parameters.AddWithValue("head", head.Value);
        command.Parameters.AddWithValue("limit", limit);
        return await ReadAsync(command, cancellationToken);
    }

    public static async Task<IReadOnlyList<RecordedEvent>> ReadStreamAsync(NpgsqlDataSource dataSource, string streamId,
        long fromVersion, int limit, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"select {Columns} from {Schema}.mt_events where stream_id = @stream and version >= @from order by version limit @limit");
        command.Parameters.AddWithValue("stream", streamId);
        command.Parameters.AddWithValue("from", fromVersion);
        command.Parameters.AddWithValue("limit", limit);
        return await ReadAsync(command, cancellationToken);
    }

    public static async Task<bool> StreamExistsAsync(NpgsqlDataSource dataSource, string streamId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"select exists(select 1 from {Schema}.mt_streams where id = @stream)");
        command.Parameters.AddWithValue("stream", streamId);
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static async Task<IReadOnlyList<RecordedEvent>> ReadAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        var events = new List<RecordedEvent>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            events.Add(new RecordedEvent(
                reader.GetInt64(0),
                reader.GetString(1),
                reader.GetInt64(2),
                reader.GetString(3),
                reader.GetFieldValue<DateTimeOffset>(4),
                JsonElement.Parse(reader.GetString(5))));
        }

        return events;
    }
}
