using System.Text.Json;
using Npgsql;

namespace EventReplay.Producer.EventLog;

public sealed record EventView(long Position, string StreamId, long Version, string Type, JsonElement Data, DateTimeOffset Timestamp);

/// <summary>
/// Reads the log straight from Marten's events table. Every row a reader can see is safe to hand out in
/// position order, because appends commit in position order (see <see cref="AppendLock"/>).
/// </summary>
public static class EventLogReader
{
    public const string Schema = "producer";

    private const string Columns = "seq_id, stream_id, version, type, data::text, timestamp";

    public static async Task<IReadOnlyList<EventView>> ReadAllAsync(NpgsqlDataSource dataSource, long after, int limit,
        CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"select {Columns} from {Schema}.mt_events where seq_id > @after order by seq_id limit @limit");
        command.Parameters.AddWithValue("after", after);
        command.Parameters.AddWithValue("limit", limit);
        return await ReadAsync(command, cancellationToken);
    }

    public static async Task<IReadOnlyList<EventView>> ReadStreamAsync(NpgsqlDataSource dataSource, string streamId,
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

    public static async Task<long> PositionOfAsync(NpgsqlDataSource dataSource, string streamId, long version,
        CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"select seq_id from {Schema}.mt_events where stream_id = @stream and version = @version");
        command.Parameters.AddWithValue("stream", streamId);
        command.Parameters.AddWithValue("version", version);
        return (long)(await command.ExecuteScalarAsync(cancellationToken)
            ?? throw new InvalidOperationException($"Event {streamId}/{version} is missing from the log."));
    }

    private static async Task<IReadOnlyList<EventView>> ReadAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        var events = new List<EventView>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            events.Add(new EventView(
                reader.GetInt64(0),
                reader.GetString(1),
                reader.GetInt64(2),
                reader.GetString(3),
                JsonElement.Parse(reader.GetString(4)),
                reader.GetFieldValue<DateTimeOffset>(5)));
        }

        return events;
    }
}
