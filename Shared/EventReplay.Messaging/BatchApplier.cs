using System.Text.Json;
using EventReplay.Contracts;
using EventReplay.Contracts.Monitoring;
using EventReplay.Hosting;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace EventReplay.Messaging;

/// <summary>
/// How both of a consumer's queues (live and replay) apply a batch: retried with back-off while a dependency is
/// down (nothing is lost, the queue waits), taken apart after a few other failures so the one bad event can be set
/// aside, and events that can never apply put on the consumer's dead-letter queue with the reason.
/// </summary>
public sealed partial class BatchApplier(string consumer, IEventBatchHandler handler, ILogger logger)
{
    // A batch that keeps failing for reasons other than a dependency being down is retried this often, then
    // taken apart so the one bad message can be set aside.
    private const int AttemptsBeforeIsolating = 3;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public string Consumer => consumer;

    public async Task<BatchOutcome> ApplyAsync(IReadOnlyList<RecordedEvent> events, ReadModelCopy copy, CancellationToken stoppingToken)
    {
        if (events.Count == 0)
        {
            return new BatchOutcome(0, 0, 0, []);
        }

        var backoff = TimeSpan.FromMilliseconds(100);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await handler.ApplyAsync(events, copy, stoppingToken);
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                var dependency = DependencyFailure.IsDependencyDown(exception);
                if (!dependency && attempt >= AttemptsBeforeIsolating)
                {
                    return await ApplyOneByOneAsync(events, copy, stoppingToken);
                }

                LogRetrying(exception, consumer, events.Count, attempt, backoff.TotalMilliseconds);
                await Task.Delay(backoff, stoppingToken);
                backoff = Backoff.Next(backoff);
            }
        }
    }

    /// <summary>
    /// Puts messages on the consumer's dead-letter queue with the reason (publisher confirms awaited), each with its own
    /// headers kept and what the monitor needs to send it again: the queue that takes it, the consumer, when.
    /// </summary>
    public async Task DeadLetterAsync(IChannel channel, IEnumerable<DeadLetter> rejected, CancellationToken stoppingToken)
    {
        foreach (var letter in rejected)
        {
            LogDeadLettered(consumer, letter.Reason);
            var headers = letter.Headers is null
                ? new Dictionary<string, object?>()
                : letter.Headers.Where(header => !FailedMessageHeaders.IsBrokers(header.Key)).ToDictionary();
            headers[FailedMessageHeaders.Reason] = letter.Reason;
            headers[FailedMessageHeaders.Consumer] = consumer;
            headers[FailedMessageHeaders.OriginalQueue] = letter.OriginalQueue;
            headers[FailedMessageHeaders.FailedAt] = DateTimeOffset.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture);
            var properties = new BasicProperties
            {
                Persistent = true,
                ContentType = "application/json",
                Type = letter.Type,
                // The monitor's key for it: a dead letter it collected twice (its ack was lost) is one failed message.
                MessageId = Guid.NewGuid().ToString("N"),
                Headers = headers,
            };
            await BrokerSafety.ConfirmedWithinTimeoutAsync(async deadline =>
                await channel.BasicPublishAsync("", Topology.DeadLetterQueue(consumer), mandatory: false, properties, letter.Body, deadline),
                stoppingToken);
        }
    }

    /// <summary>
    /// Events that can never apply, as dead letters for the live queue (where a retry sends an event): as delivered, with
    /// the delivery's headers, when the delivery is known; else as read.
    /// </summary>
    public IEnumerable<DeadLetter> Letters(IEnumerable<Rejected> rejected,
        Func<RecordedEvent, (ReadOnlyMemory<byte> Body, IDictionary<string, object?>? Headers)?>? deliveryOf = null) =>
        rejected.Select(invalid => deliveryOf?.Invoke(invalid.Event) is var (body, headers)
            ? new DeadLetter(body, invalid.Reason, Topology.LiveQueue(consumer), Topology.RecordedEventType, headers)
            : new DeadLetter(JsonSerializer.SerializeToUtf8Bytes(invalid.Event, Json), invalid.Reason, Topology.LiveQueue(consumer),
                Topology.RecordedEventType));

    private async Task<BatchOutcome> ApplyOneByOneAsync(IReadOnlyList<RecordedEvent> events, ReadModelCopy copy,
        CancellationToken stoppingToken)
    {
        var outcome = new BatchOutcome(0, 0, 0, []);
        foreach (var recorded in events)
        {
            try
            {
                var one = await handler.ApplyAsync([recorded], copy, stoppingToken);
                outcome = new BatchOutcome(outcome.Applied + one.Applied, outcome.Skipped + one.Skipped, outcome.Parked + one.Parked,
                    [.. outcome.Rejected, .. one.Rejected]);
            }
            catch (Exception exception) when (!DependencyFailure.IsDependencyDown(exception))
            {
                outcome = outcome with { Rejected = [.. outcome.Rejected, new Rejected(recorded, $"{exception.GetType().Name}: {exception.Message}")] };
            }
        }

        return outcome;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Consumer {Consumer} dead-lettered a message: {Reason}")]
    private partial void LogDeadLettered(string consumer, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Consumer {Consumer} could not apply {Count} events (attempt {Attempt}); retrying in {DelayMs} ms")]
    private partial void LogRetrying(Exception exception, string consumer, int count, int attempt, double delayMs);
}

/// <summary>A message to set aside: its body, why, the queue that takes such a message, its AMQP type and headers.</summary>
public sealed record DeadLetter(ReadOnlyMemory<byte> Body, string Reason, string OriginalQueue, string? Type,
    IDictionary<string, object?>? Headers = null);
