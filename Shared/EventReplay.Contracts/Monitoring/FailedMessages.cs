namespace EventReplay.Contracts.Monitoring;

/// <summary>
/// AMQP headers of a message set aside (on a dead-letter queue) and of one the monitor sends again. A consumer that
/// sets a message aside keeps the message's own headers and adds these; the monitor's retry adds the last two.
/// </summary>
public static class FailedMessageHeaders
{
    /// <summary>Why the message was set aside.</summary>
    public const string Reason = "x-reason";

    /// <summary>The consumer that set it aside.</summary>
    public const string Consumer = "x-consumer";

    /// <summary>The queue that takes such a message: where a retry sends it.</summary>
    public const string OriginalQueue = "x-original-queue";

    /// <summary>When it was set aside (ISO 8601).</summary>
    public const string FailedAt = "x-failed-at";

    /// <summary>On a retried message: the monitor's id of the failed message it is, so its outcome finds the record.</summary>
    public const string FailedMessageId = "x-failed-message-id";

    /// <summary>On a retried message: which attempt this is (the first retry is 2).</summary>
    public const string Attempt = "x-retry-attempt";

    /// <summary>Headers of the broker's own dead-lettering (quorum queues' delivery limit), read for the original queue and reason.</summary>
    public const string FirstDeathQueue = "x-first-death-queue";

    public const string FirstDeathReason = "x-first-death-reason";

    /// <summary>The RabbitMQ client's own bookkeeping of publisher confirms, which it adds to what it publishes.</summary>
    public const string ClientConfirmSequence = "x-dotnet-pub-seq-no";

    /// <summary>
    /// A header the broker or the client library added (the broker's dead-lettering: <c>x-death</c>,
    /// <c>x-first-death-*</c>, <c>x-last-death-*</c>; the client's <see cref="ClientConfirmSequence"/>): never the
    /// message's own, so never kept with it when it is set aside again nor sent again with it.
    /// </summary>
    public static bool IsBrokers(string name) =>
        name.StartsWith("x-death", StringComparison.OrdinalIgnoreCase) || name.StartsWith("x-first-death", StringComparison.OrdinalIgnoreCase)
        || name.StartsWith("x-last-death", StringComparison.OrdinalIgnoreCase) || name.Equals(ClientConfirmSequence, StringComparison.OrdinalIgnoreCase);

    /// <summary>A string header's value as the RabbitMQ client gives it (bytes) or as set (string).</summary>
    public static string? Text(IDictionary<string, object?>? headers, string name) =>
        headers is not null && headers.TryGetValue(name, out var value)
            ? value switch
            {
                byte[] bytes => System.Text.Encoding.UTF8.GetString(bytes),
                string text => text,
                null => null,
                _ => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture),
            }
            : null;
}

/// <summary>
/// A consumer applied a message the monitor had sent again (<see cref="FailedMessageHeaders.FailedMessageId"/>): the
/// failed message is resolved. Published on <see cref="Topology.FailedMessageOutcomesExchange"/>.
/// </summary>
public sealed record FailedMessageApplied(string FailedMessageId, string Consumer, DateTimeOffset AppliedAt);
