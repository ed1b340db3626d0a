using Wolverine.Runtime.Serialization;

namespace EventReplay.Monitor.FailedMessages;

/// <summary>
/// The message inside a dead letter the replay service's framework kept in its table: that table holds the whole
/// envelope in the framework's own format (the time sent, its properties and headers, then the body), so the monitor
/// reads it with the framework's serializer and keeps what came in on the queue — the body, its content type, the
/// message type and the headers — which is what a retry sends again.
/// </summary>
public sealed record ReplayDeadLetter(byte[] Body, string ContentType, string MessageType, IReadOnlyDictionary<string, string> Headers)
{
    /// <summary>The message in <paramref name="stored"/>; the stored bytes as they are when they are not an envelope.</summary>
    public static ReplayDeadLetter Open(byte[] stored, string messageType)
    {
        try
        {
            var envelope = EnvelopeSerializer.Deserialize(stored);
            if (envelope.Data is { } data)
            {
                return new ReplayDeadLetter(data, envelope.ContentType ?? "application/json", envelope.MessageType ?? messageType,
                    envelope.Headers.Where(header => header.Value is not null).ToDictionary(header => header.Key, header => header.Value!));
            }
        }
        catch (Exception exception) when (exception is EndOfStreamException or IOException or InvalidOperationException or FormatException
            or ArgumentException or OverflowException)
        {
            // Not an envelope of the framework's format: kept as it is.
        }

        return new ReplayDeadLetter(stored, "application/octet-stream", messageType, new Dictionary<string, string>());
    }
}
