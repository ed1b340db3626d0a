using System.Text.Json;

namespace EventReplay.Contracts;

/// <summary>One committed event as it travels to consumers, live or replayed.</summary>
public sealed record RecordedEvent(
    long Position,
    string StreamId,
    long Version,
    string Type,
    DateTimeOffset Timestamp,
    JsonElement Data);
