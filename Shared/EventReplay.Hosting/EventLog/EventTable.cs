using System.Text.Json;
using EventReplay.Contracts;
using Npgsql;

namespace EventReplay.Hosting.EventLog;

/// <summary>
/// Marten's events table as the producer writes it, read straight with SQL by the services that read the log
/// (the producer's event API and publisher, the replay service).
/// </summary>
public static class EventTable
{
    public const string Schema = "producer";

    public const string Name = Schema + ".mt_events";

    /// <summary>Marten fills the positions of failed appends with tombstone rows; they are not events of ours.</summary>
    public const string Tombstone = "tombstone";

    /// <summary>The columns <see cref="Map"/> and <see cref="Map{T}"/> read, in their order.</summary>
    public const string Columns = "seq_id, stream_id, version, type, timestamp, data::text";

    public static RecordedEvent Map(NpgsqlDataReader reader) =>
        Map(reader, (position, streamId, version, type, timestamp, data) =>
            new RecordedEvent(position, streamId, version, type, timestamp, JsonElement.Parse(data)));

    /// <summary>
    /// A row of <see cref="Columns"/> as the caller builds it, the data as the JSON text the store returned, in UTF-8 as
    /// it came over the wire (not decoded into a string only to be encoded again).
    /// </summary>
    public static T Map<T>(NpgsqlDataReader reader, Func<long, string, long, string, DateTimeOffset, byte[], T> create) => create(
        reader.GetInt64(0),
        reader.GetString(1),
        reader.GetInt64(2),
        reader.GetString(3),
        reader.GetFieldValue<DateTimeOffset>(4),
        Utf8(reader, 5));

    private static byte[] Utf8(NpgsqlDataReader reader, int ordinal)
    {
        using var stream = reader.GetStream(ordinal);
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }
}
