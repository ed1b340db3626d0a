using System.Buffers;
using System.Text.Json;
using CommunityToolkit.HighPerformance.Buffers;
using EventReplay.Contracts;
using EventReplay.Contracts.Replays;

namespace EventReplay.Replay.Replays;

/// <summary>
/// Writes one <see cref="ReplayBatch"/> as the JSON the consumers read (the same as <see cref="JsonSerializer"/> with
/// web defaults would write for it), event by event as the store's rows are read, into a pooled buffer: no object per
/// event, and each event's data copied as the UTF-8 JSON text the store returned (parsing it and writing it out again
/// cost more than reading it). Dispose it once the message is sent.
/// </summary>
public sealed class ReplayBatchWriter : IDisposable
{
    // A batch of 500 events is ~100 KB: written into pooled arrays, given back once the broker has confirmed it, instead
    // of large-object allocations per batch (and the full collections they bring). Room for two reads' worth of batches.
    private static readonly ArrayPool<byte> Buffers = ArrayPool<byte>.Create(maxArrayLength: 16 * 1024 * 1024,
        maxArraysPerBucket: 2 * Replay.ReadAhead);

    // Room per event the buffer starts with; a batch of larger events grows it.
    private const int ExpectedEventBytes = 256;

    private static readonly JsonEncodedText ReplayId = JsonEncodedText.Encode("replayId");
    private static readonly JsonEncodedText SequenceName = JsonEncodedText.Encode("sequence");
    private static readonly JsonEncodedText Mode = JsonEncodedText.Encode("mode");
    private static readonly JsonEncodedText Events = JsonEncodedText.Encode("events");
    private static readonly JsonEncodedText Position = JsonEncodedText.Encode("position");
    private static readonly JsonEncodedText StreamId = JsonEncodedText.Encode("streamId");
    private static readonly JsonEncodedText Version = JsonEncodedText.Encode("version");
    private static readonly JsonEncodedText Type = JsonEncodedText.Encode("type");
    private static readonly JsonEncodedText Timestamp = JsonEncodedText.Encode("timestamp");
    private static readonly JsonEncodedText Data = JsonEncodedText.Encode("data");

    private readonly ArrayPoolBufferWriter<byte> _buffer;
    private readonly Utf8JsonWriter _writer;
    private bool _finished;

    public ReplayBatchWriter(string replayId, int sequence, string mode, int expectedEvents)
    {
        Sequence = sequence;
        _buffer = new ArrayPoolBufferWriter<byte>(Buffers, Math.Max(expectedEvents, 1) * ExpectedEventBytes);
        _writer = new Utf8JsonWriter(_buffer);
        _writer.WriteStartObject();
        _writer.WriteString(ReplayId, replayId);
        _writer.WriteNumber(SequenceName, sequence);
        _writer.WriteString(Mode, mode);
        _writer.WriteStartArray(Events);
    }

    public int Sequence { get; }

    /// <summary>How many events the batch holds.</summary>
    public int Count { get; private set; }

    /// <summary>The position of the batch's last event.</summary>
    public long LastPosition { get; private set; }

    /// <summary>Adds an event; its text columns come as the store's UTF-8 (<paramref name="data"/>: its JSON text, valid, not checked again).</summary>
    public void Add(long position, ReadOnlySpan<byte> streamId, long version, ReadOnlySpan<byte> type, DateTimeOffset timestamp,
        ReadOnlySpan<byte> data)
    {
        if (_finished)
        {
            throw new InvalidOperationException("The batch is finished: no event can be added.");
        }

        _writer.WriteStartObject();
        _writer.WriteNumber(Position, position);
        _writer.WriteString(StreamId, streamId);
        _writer.WriteNumber(Version, version);
        _writer.WriteString(Type, type);
        _writer.WriteString(Timestamp, timestamp);
        _writer.WritePropertyName(Data);
        _writer.WriteRawValue(data, skipInputValidation: true);
        _writer.WriteEndObject();
        Count++;
        LastPosition = position;
    }

    /// <summary>The batch's JSON; no event can be added after. Valid until the writer is disposed.</summary>
    public ReadOnlyMemory<byte> Finish()
    {
        if (!_finished)
        {
            _writer.WriteEndArray();
            _writer.WriteEndObject();
            _writer.Flush();
            _finished = true;
        }

        return _buffer.WrittenMemory;
    }

    public void Dispose()
    {
        _writer.Dispose();
        _buffer.Dispose();
    }
}
