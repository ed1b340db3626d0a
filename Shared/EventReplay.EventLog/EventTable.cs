using System.Text.Json;
using CommunityToolkit.HighPerformance.Buffers;
using EventReplay.Contracts;
using Npgsql;

namespace EventReplay.EventLog;

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

    /// <summary>The event header holding the W3C traceparent of the request that appended the event.</summary>
    public const string TraceParentHeader = "traceparent";

    /// <summary>The columns <see cref="Map"/> reads, in their order.</summary>
    public const string Columns = "seq_id, stream_id, version, type, timestamp, data::text";

    public static RecordedEvent Map(NpgsqlDataReader reader)
    {
        using var text = new ArrayPoolBufferWriter<byte>();
        var data = AppendUtf8(reader, 5, text);
        return new RecordedEvent(reader.GetInt64(0), reader.GetString(1), reader.GetInt64(2), reader.GetString(3),
            reader.GetFieldValue<DateTimeOffset>(4), JsonElement.Parse(text.WrittenSpan[data]));
    }

    /// <summary>
    /// Appends a text column's value to <paramref name="text"/> in UTF-8 as it came over the wire (not decoded into a
    /// string only to be encoded again); returns where it is in <paramref name="text"/>.
    /// </summary>
    public static Range AppendUtf8(NpgsqlDataReader reader, int ordinal, ArrayPoolBufferWriter<byte> text)
    {
        using var stream = reader.GetStream(ordinal);
        var length = checked((int)stream.Length);
        var start = text.WrittenCount;
        stream.ReadExactly(text.GetSpan(length)[..length]);
        text.Advance(length);
        return start..(start + length);
    }
}
