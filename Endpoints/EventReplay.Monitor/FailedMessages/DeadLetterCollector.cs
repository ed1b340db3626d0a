using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using EventReplay.Contracts;
using EventReplay.Contracts.Monitoring;
using EventReplay.Hosting;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace EventReplay.Monitor.FailedMessages;

/// <summary>
/// Collects every message on the dead-letter queues (each consumer's, and <c>replay.dead</c> where the broker puts what
/// keeps coming back) into the <see cref="FailedMessageStore"/>, acknowledging each only once it is committed there:
/// nothing set aside is lost, and one collected twice is recorded once. Also reads consumers' word that a retried
/// message applied (<see cref="Topology.MonitorOutcomesQueue"/>).
/// </summary>
public sealed partial class DeadLetterCollector(IConnectionFactory rabbit, BrokerTopology topology, FailedMessageStore store,
    Alerts.AlertNotifier alerts, TimeProvider clock, ILogger<DeadLetterCollector> logger) : BackgroundService
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static IReadOnlyList<string> DeadLetterQueues =>
        [.. Topology.Consumers.Select(Topology.DeadLetterQueue), Topology.ReplayDeadLetterQueue];

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Backoff.RunUntilStoppedAsync(CollectAsync, (exception, delay) => LogStopped(exception, delay.TotalMilliseconds), stoppingToken);

    private async Task CollectAsync(CancellationToken stoppingToken)
    {
        await QueueListener.ListenAsync(rabbit, async (connection, channel, cancellationToken) =>
        {
            await topology.DeclareAsync(connection, BrokerTopology.MonitorOwns, cancellationToken);
            await channel.ExchangeDeclareAsync(Topology.FailedMessageOutcomesExchange, ExchangeType.Fanout, durable: true,
                cancellationToken: cancellationToken);
            await channel.QueueDeclareAsync(Topology.MonitorOutcomesQueue, durable: true, exclusive: false, autoDelete: false,
                new Dictionary<string, object?> { ["x-queue-type"] = "classic" }, cancellationToken: cancellationToken);
            await channel.QueueBindAsync(Topology.MonitorOutcomesQueue, Topology.FailedMessageOutcomesExchange, "",
                cancellationToken: cancellationToken);
            LogListening(string.Join(", ", DeadLetterQueues));
        }, prefetch: 50, [
            .. DeadLetterQueues.Select(queue => new QueueHandler(queue,
                (channel, message, cancellationToken) => CollectAsync(channel, queue, message, cancellationToken))),
            new QueueHandler(Topology.MonitorOutcomesQueue, OutcomeAsync),
        ], stoppingToken);
    }

    private async Task CollectAsync(IChannel channel, string deadLetterQueue, BasicDeliverEventArgs message, CancellationToken stoppingToken)
    {
        try
        {
            var failure = Failure(deadLetterQueue, message.BasicProperties, message.Body.ToArray(), clock.GetUtcNow());
            if (await store.RecordAsync(failure, stoppingToken))
            {
                LogCollected(failure.Queue, failure.Reason);
                alerts.FailedMessage(failure);
            }

            await channel.BasicAckAsync(message.DeliveryTag, multiple: false, stoppingToken);
        }
        catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
        {
            // Not acknowledged: the broker gives it again once the connection starts over.
            LogNotRecorded(exception, deadLetterQueue);
            throw;
        }
    }

    private async Task OutcomeAsync(IChannel channel, BasicDeliverEventArgs message, CancellationToken stoppingToken)
    {
        try
        {
            FailedMessageApplied? applied = null;
            try
            {
                applied = JsonSerializer.Deserialize<FailedMessageApplied>(message.Body.Span, Json);
            }
            catch (JsonException exception)
            {
                LogUnreadableOutcome(exception);
            }

            if (applied is { FailedMessageId: { } id, Consumer: { } consumer } && Guid.TryParse(id, out var failedMessageId))
            {
                await store.ResolveAsync(failedMessageId, $"applied by {consumer}", consumer, stoppingToken);
            }

            await channel.BasicAckAsync(message.DeliveryTag, multiple: false, stoppingToken);
        }
        catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
        {
            LogNotRecorded(exception, Topology.MonitorOutcomesQueue);
            throw;
        }
    }

    /// <summary>A dead letter as a failure: our consumers' headers say why and where it goes; the broker's say where it died.</summary>
    public static CollectedFailure Failure(string deadLetterQueue, IReadOnlyBasicProperties properties, byte[] body, DateTimeOffset now)
    {
        var raw = properties.Headers;
        var headers = new Dictionary<string, string>(StringComparer.Ordinal);
        if (raw is not null)
        {
            foreach (var (name, value) in raw)
            {
                // The broker's dead-letter headers are kept to be shown (where and why it died); the client's are not the message's.
                if (value is byte[] or string or int or long or bool or decimal or double or AmqpTimestamp && name != FailedMessageHeaders.ClientConfirmSequence)
                {
                    headers[name] = FailedMessageHeaders.Text(raw, name) ?? "";
                }
            }
        }

        var queue = FailedMessageHeaders.Text(raw, FailedMessageHeaders.OriginalQueue)
            ?? FailedMessageHeaders.Text(raw, FailedMessageHeaders.FirstDeathQueue) ?? deadLetterQueue;
        var reason = FailedMessageHeaders.Text(raw, FailedMessageHeaders.Reason)
            ?? (FailedMessageHeaders.Text(raw, FailedMessageHeaders.FirstDeathReason) is { } death
                ? $"Set aside by the broker ({death}): delivered {BrokerTopology.DeliveryLimit} times and never acknowledged."
                : "Set aside without a reason.");
        var endpoint = FailedMessageHeaders.Text(raw, FailedMessageHeaders.Consumer) ?? queue.Split('.')[0];
        var failedAt = DateTimeOffset.TryParse(FailedMessageHeaders.Text(raw, FailedMessageHeaders.FailedAt), CultureInfo.InvariantCulture,
            DateTimeStyles.RoundtripKind, out var at) && at <= now ? at : now;
        var retryOf = Guid.TryParse(FailedMessageHeaders.Text(raw, FailedMessageHeaders.FailedMessageId), out var id) ? id : (Guid?)null;
        // Our consumers give each dead letter an id; anything else is known by its content and headers.
        var key = properties.MessageId is { Length: > 0 } messageId && raw?.ContainsKey(FailedMessageHeaders.FirstDeathQueue) != true
            ? messageId
            : Convert.ToHexStringLower(SHA256.HashData([.. body, .. Encoding.UTF8.GetBytes(JsonSerializer.Serialize(headers.OrderBy(h => h.Key)))]));
        return new CollectedFailure($"{deadLetterQueue}:{key}", FailureSource.DeadLetterQueue, queue, deadLetterQueue, endpoint, properties.Type,
            reason, body, properties.ContentType, headers, failedAt, retryOf);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Collecting failed messages from {Queues}")]
    private partial void LogListening(string queues);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A message set aside for {Queue}: {Reason}")]
    private partial void LogCollected(string queue, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A message from {Queue} could not be recorded; it stays on its queue")]
    private partial void LogNotRecorded(Exception exception, string queue);

    [LoggerMessage(Level = LogLevel.Warning, Message = "An outcome that is not one was dropped")]
    private partial void LogUnreadableOutcome(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Collecting failed messages stopped; retrying in {DelayMs} ms")]
    private partial void LogStopped(Exception exception, double delayMs);
}
