using System.Buffers;
using System.Text.Json;
using CommunityToolkit.HighPerformance.Buffers;
using EventReplay.Contracts;
using EventReplay.Contracts.Replays;

namespace EventReplay.Replay.Replays;

/// <summary>
/// An event as the replay service reads it from the store: its data stays the JSON text the store returned, in UTF-8,
/// because the replay service only passes it on (parsing it into a <see cref="JsonElement"/> and writing it out again
/// cost more than reading it).
/// </summary>
public sealed record LoggedEvent(long Position, string StreamId, long Version, string Type, DateTimeOffset Timestamp, byte[] Data);

/// <summary>
/// Writes a <see cref="ReplayBatch"/> of <see cref="LoggedEvent"/>s as the JSON the consumers read (the same as
/// <see cref="JsonSerializer"/> with web defaults would write for the <see cref="ReplayBatch"/>), copying each
/// event's data as it is.
/// </summary>
public static class ReplayBatchJson
{
    // A batch of 500 events is ~100 KB: written into pooled arrays, given back once the broker has confirmed it, instead
    // of two large-object allocations per batch (a fresh buffer and its copy). Room for two reads' worth of batches.
    private static readonly ArrayPool<byte> Buffers = ArrayPool<byte>.Create(maxArrayLength: 16 * 1024 * 1024,
        maxArraysPerBucket: 2 * Replay.ReadAhead);

    private static readonly JsonEncodedText ReplayId = JsonEncodedText.Encode("replayId");
    private static readonly JsonEncodedText Sequence = JsonEncodedText.Encode("sequence");
    private static readonly JsonEncodedText Mode = JsonEncodedText.Encode("mode");
    private static readonly JsonEncodedText Events = JsonEncodedText.Encode("events");
    private static readonly JsonEncodedText Position = JsonEncodedText.Encode("position");
    private static readonly JsonEncodedText StreamId = JsonEncodedText.Encode("streamId");
    private static readonly JsonEncodedText Version = JsonEncodedText.Encode("version");
    private static readonly JsonEncodedText Type = JsonEncodedText.Encode("type");
    private static readonly JsonEncodedText Timestamp = JsonEncodedText.Encode("timestamp");
    private static readonly JsonEncodedText Data = JsonEncodedText.Encode("data");

    /// <summary>The batch's JSON, in a pooled buffer: dispose it once the message is sent.</summary>
    public static ArrayPoolBufferWriter<byte> Write(string replayId, int sequence, string mode, IReadOnlyCollection<LoggedEvent> events)
    {
        var buffer = new ArrayPoolBufferWriter<byte>(Buffers, 256 + events.Sum(e => e.Data.Length + e.StreamId.Length + 128));
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString(ReplayId, replayId);
            writer.WriteNumber(Sequence, sequence);
            writer.WriteString(Mode, mode);
            writer.WriteStartArray(Events);
            foreach (var e in events)
            {
                writer.WriteStartObject();
                writer.WriteNumber(Position, e.Position);
                writer.WriteString(StreamId, e.StreamId);
                writer.WriteNumber(Version, e.Version);
                writer.WriteString(Type, e.Type);
                writer.WriteString(Timestamp, e.Timestamp);
                writer.WritePropertyName(Data);
                // The store's own JSON (jsonb), so it is valid: not checked again.
                writer.WriteRawValue(e.Data, skipInputValidation: true);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return buffer;
    }
}
