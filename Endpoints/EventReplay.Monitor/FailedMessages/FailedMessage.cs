using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace EventReplay.Monitor.FailedMessages;

/// <summary>Where a failed message was found.</summary>
public static class FailureSource
{
    /// <summary>A dead-letter queue: a consumer's (<c>{consumer}.dead</c>) or the broker's (<c>replay.dead</c>).</summary>
    public const string DeadLetterQueue = "dead-letter-queue";

    /// <summary>The replay service's message framework set it aside (its dead-letter table).</summary>
    public const string ReplayService = "replay-service";

    /// <summary>An event a consumer parked (waiting for an earlier version) for longer than the monitor allows.</summary>
    public const string Parked = "parked";
}

public static class FailedMessageStatus
{
    public const string Unresolved = "unresolved";

    /// <summary>Sent again; waiting for the consumer to apply it or set it aside again.</summary>
    public const string Retrying = "retrying";

    public const string Resolved = "resolved";

    public const string Archived = "archived";

    public static readonly IReadOnlyList<string> All = [Unresolved, Retrying, Resolved, Archived];
}

/// <summary>A message set aside somewhere, as the monitor collected it.</summary>
/// <param name="SourceKey">What makes the same dead letter collected twice one failure.</param>
/// <param name="Queue">The queue that takes such a message: where a retry sends it.</param>
/// <param name="FoundIn">Where it was found (a dead-letter queue, a table).</param>
/// <param name="RetryOf">The failed message it is, when it was a retry that failed again.</param>
public sealed record CollectedFailure(
    string SourceKey, string Source, string Queue, string FoundIn, string Endpoint, string? AmqpType, string Reason, byte[] Body,
    string? ContentType, IReadOnlyDictionary<string, string> Headers, DateTimeOffset FailedAt, Guid? RetryOf)
{
    /// <summary>What the message is: the event's type for a recorded event, else its AMQP type.</summary>
    public MessageShape Shape => MessageShape.Of(Body, AmqpType);
}

/// <summary>What the monitor reads from a body for search and grouping: the message type, and for an event its stream, version and position.</summary>
public sealed record MessageShape(string MessageType, string? StreamId, long? Version, long? Position, string? BodyText)
{
    public static MessageShape Of(byte[] body, string? amqpType)
    {
        var text = Utf8(body);
        string? eventType = null, streamId = null;
        long? version = null, position = null;
        if (text is not null)
        {
            try
            {
                using var document = JsonDocument.Parse(text);
                if (document.RootElement.ValueKind == JsonValueKind.Object)
                {
                    foreach (var property in document.RootElement.EnumerateObject())
                    {
                        switch (property.Name.ToLowerInvariant())
                        {
                            case "type" when property.Value.ValueKind == JsonValueKind.String:
                                eventType = property.Value.GetString();
                                break;
                            case "streamid" when property.Value.ValueKind == JsonValueKind.String:
                                streamId = property.Value.GetString();
                                break;
                            case "version" when property.Value.TryGetInt64(out var v):
                                version = v;
                                break;
                            case "position" when property.Value.TryGetInt64(out var p):
                                position = p;
                                break;
                        }
                    }
                }
            }
            catch (JsonException)
            {
                // not JSON: searched as text only
            }
        }

        var isEvent = amqpType is null or EventReplay.Contracts.Topology.RecordedEventType && streamId is not null && eventType is not null;
        return new MessageShape(isEvent ? eventType! : amqpType ?? "unknown", isEvent ? streamId : null, isEvent ? version : null,
            isEvent ? position : null, text);
    }

    /// <summary>The body as text when it is valid UTF-8 (else it is shown as base64).</summary>
    public static string? Utf8(byte[] body)
    {
        try
        {
            return new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(body);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }
}

/// <summary>
/// Failures are grouped by the queue that takes them, the class of their reason and their message type. A reason's
/// class is the reason with what varies from one message to the next taken out: ids, numbers, quoted values.
/// </summary>
public static partial class FailureGroup
{
    public static string ReasonClass(string reason)
    {
        var text = Guids().Replace(reason, "{id}");
        text = Quoted().Replace(text, "'…'");
        text = Numbers().Replace(text, "#");
        text = text.Trim();
        return text.Length <= 200 ? text : text[..200];
    }

    public static string Id(string queue, string reasonClass, string messageType) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{queue}\n{reasonClass}\n{messageType}")))[..16];

    /// <summary>Whether <paramref name="text"/> can be a group's id (<see cref="Id"/>: 16 lower-case hex digits).</summary>
    public static bool IsId(string text) => text.Length == 16 && text.All(char.IsAsciiHexDigitLower);

    [GeneratedRegex("[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")]
    private static partial Regex Guids();

    [GeneratedRegex("'[^']*'|\"[^\"]*\"")]
    private static partial Regex Quoted();

    [GeneratedRegex(@"\d+(\.\d+)?")]
    private static partial Regex Numbers();
}
