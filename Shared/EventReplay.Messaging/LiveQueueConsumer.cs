using System.Diagnostics;
using System.Text.Json;
using System.Threading.Channels;
using EventReplay.Contracts;
using EventReplay.Contracts.Monitoring;
using EventReplay.Contracts.Replays;
using EventReplay.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace EventReplay.Messaging;

/// <summary>
/// Consumes a consumer's live queue in order and in batches: up to <see cref="BatchSize"/> waiting messages are
/// applied together (one transaction), then acknowledged with one multiple-ack. Nothing is acknowledged before it
/// is applied, so a crash only redelivers. A database that is down stalls the queue (retried with back-off) rather
/// than losing anything; a message that can never be applied (unreadable, unknown type, impossible) goes to the
/// consumer's dead-letter queue with the reason and the queue moves on.
/// </summary>
public sealed partial class LiveQueueConsumer(
    string consumer, IEventBatchHandler handler, ReadModelCopies copies, GapRepair repair, IConnectionFactory rabbit,
    BrokerTopology topology, BrokerUsers users, LastAppliedEvent last, StoreEpochWatch epochs, ConsumerMetrics metrics,
    ILogger<LiveQueueConsumer> logger)
    : BackgroundService
{
    public const int BatchSize = 500;

    private readonly BatchApplier _applier = new(consumer, handler, logger);

    private static readonly JsonSerializerOptions Json = StrictJson.Options;

    // Cache and gap repair also run this often while the queue never idles.
    private static readonly TimeSpan MaintenanceInterval = TimeSpan.FromSeconds(5);

    private long _maintained = Stopwatch.GetTimestamp();

    private sealed record Delivery(ulong Tag, ReadOnlyMemory<byte> Body, string? Type, string? TraceParent, string? Epoch,
        IDictionary<string, object?>? Headers, string? UserId, string? Refusal)
    {
        /// <summary>The events it says it carries: a batch message's count header, else one.</summary>
        public int Events { get; } = Headers?.TryGetValue(Topology.EventCountHeader, out var count) == true && count is int events and > 0 ? events : 1;

        /// <summary>Set on a message the monitor sent again: the failed message it is.</summary>
        public string? FailedMessageId => FailedMessageHeaders.Text(Headers, FailedMessageHeaders.FailedMessageId);
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Backoff.RunUntilStoppedAsync(ConsumeAsync, (exception, delay) => LogStopped(exception, consumer, delay.TotalMilliseconds),
            stoppingToken);

    private async Task ConsumeAsync(CancellationToken stoppingToken)
    {
        await using var connection = (await rabbit.CreateConnectionAsync(stoppingToken)).LogBlocking(logger, Topology.LiveQueue(consumer));
        await topology.DeclareAsync(connection, BrokerTopology.ConsumerOwns(consumer), stoppingToken);
        await using var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true),
            stoppingToken);
        await channel.BasicQosAsync(0, BatchSize * 2, global: false, stoppingToken);

        var inbox = Channel.CreateUnbounded<Delivery>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var listener = new AsyncEventingBasicConsumer(channel);
        listener.ReceivedAsync += async (_, message) =>
            await inbox.Writer.WriteAsync(new Delivery(message.DeliveryTag, message.Body.ToArray(), message.BasicProperties.Type,
                Telemetry.TraceParentOf(message.BasicProperties.Headers), EpochHeader.Of(message.BasicProperties.Headers),
                message.BasicProperties.Headers, message.BasicProperties.UserId,
                users.RefusesLive(message.BasicProperties.UserId, message.BasicProperties.Headers)), stoppingToken);
        channel.ChannelShutdownAsync += (_, _) =>
        {
            inbox.Writer.TryComplete();
            return Task.CompletedTask;
        };
        await channel.BasicConsumeAsync(Topology.LiveQueue(consumer), autoAck: false, listener, stoppingToken);
        LogListening(consumer);

        var batch = new List<Delivery>(BatchSize);
        while (!stoppingToken.IsCancellationRequested)
        {
            batch.Clear();
            using (var idle = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken))
            {
                idle.CancelAfter(TimeSpan.FromSeconds(1));
                try
                {
                    if (!await inbox.Reader.WaitToReadAsync(idle.Token))
                    {
                        throw new InvalidOperationException($"The channel of {Topology.LiveQueue(consumer)} closed.");
                    }
                }
                catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
                {
                    await MaintainAsync(channel, stoppingToken);
                    continue;
                }
            }

            // Gathered by events, not messages: the producer's messages carry up to a hundred each.
            for (var events = 0; events < BatchSize && inbox.Reader.TryRead(out var delivery); events += delivery.Events)
            {
                batch.Add(delivery);
            }

            await ProcessByEpochAsync(channel, batch, stoppingToken);
            if (Stopwatch.GetElapsedTime(_maintained) >= MaintenanceInterval)
            {
                await MaintainAsync(channel, stoppingToken);
            }
        }
    }

    /// <summary>Deferred work, when the queue is idle and at least every <see cref="MaintenanceInterval"/> under load: cache repair, gap repair.</summary>
    private async Task MaintainAsync(IChannel channel, CancellationToken stoppingToken)
    {
        _maintained = Stopwatch.GetTimestamp();
        try
        {
            await copies.RepairCacheAsync(handler, stoppingToken);
        }
        catch (Exception exception) when (DependencyFailure.IsDependencyDown(exception) && !stoppingToken.IsCancellationRequested)
        {
            LogMaintenanceFailed(exception, consumer); // tried again at the next turn; the queue goes on meanwhile
        }

        await repair.RequestAsync(channel, copies.Live.Schema, stoppingToken);
    }

    /// <summary>
    /// Applies the batch in runs of one store epoch each (a restore of the event store changes it between two events):
    /// a run of the live copy's epoch applies; of the store's newer epoch, applies once the rebuilt copy is live; of
    /// another, is acknowledged unapplied (see <see cref="StoreEpochWatch"/>).
    /// </summary>
    private async Task ProcessByEpochAsync(IChannel channel, List<Delivery> delivered, CancellationToken stoppingToken)
    {
        var batch = await SetAsideForgedAsync(channel, delivered, stoppingToken);
        for (var start = 0; start < batch.Count;)
        {
            var epoch = batch[start].Epoch;
            var end = start;
            while (end < batch.Count && batch[end].Epoch == epoch)
            {
                end++;
            }

            var run = batch.GetRange(start, end - start);
            if (await epochs.DecideAsync(epoch, stoppingToken) == EpochDecision.Apply)
            {
                await ProcessAsync(channel, run, stoppingToken);
            }
            else
            {
                await channel.BasicAckAsync(run[^1].Tag, multiple: true, stoppingToken);
            }

            start = end;
        }

        if (batch.Count == 0 || batch[^1].Tag != delivered[^1].Tag)
        {
            await channel.BasicAckAsync(delivered[^1].Tag, multiple: true, stoppingToken);
        }
    }

    /// <summary>
    /// Sets aside, as failed messages with the reason, deliveries that the producer did not publish (nor the monitor
    /// as a retry): their AMQP <c>user_id</c>, which the broker checked, says who did. The rest, in order.
    /// </summary>
    private async Task<List<Delivery>> SetAsideForgedAsync(IChannel channel, List<Delivery> batch, CancellationToken stoppingToken)
    {
        if (batch.TrueForAll(delivery => delivery.Refusal is null))
        {
            return batch;
        }

        var forged = batch.FindAll(delivery => delivery.Refusal is not null);
        LogForged(consumer, forged.Count, forged[0].UserId ?? "(none)");
        await _applier.DeadLetterAsync(channel, forged.Select(delivery =>
            new DeadLetter(delivery.Body, delivery.Refusal!, Topology.LiveQueue(consumer), delivery.Type, delivery.Headers)), stoppingToken);
        return batch.FindAll(delivery => delivery.Refusal is null);
    }

    private async Task ProcessAsync(IChannel channel, List<Delivery> batch, CancellationToken stoppingToken)
    {
        using var activity = StartApplyActivity(batch);
        var events = new List<RecordedEvent>(batch.Count);
        // The delivery of each event, in their order.
        var carriers = new List<Delivery>(batch.Count);
        var rejected = new List<DeadLetter>();
        var retried = false;
        foreach (var delivery in batch)
        {
            var read = events.Count;
            if (Read(delivery, events, out var reason))
            {
                carriers.AddRange(Enumerable.Repeat(delivery, events.Count - read));
                retried |= delivery.FailedMessageId is not null;
            }
            else
            {
                rejected.Add(new DeadLetter(delivery.Body, reason!, Topology.LiveQueue(consumer), delivery.Type, delivery.Headers));
            }
        }

        var live = copies.Live;
        var started = Stopwatch.GetTimestamp();
        var outcome = await _applier.ApplyAsync(events, live, stoppingToken);
        if (outcome.Parked == 0 && events.Count > 0)
        {
            // Said as soon as the batch committed: a read that sees it should rarely find the header a batch behind.
            last.Applied(events.MaxBy(recorded => recorded.Position)!);
        }

        metrics.Applied(events, Stopwatch.GetElapsedTime(started));

        // An event set aside is kept as delivered, headers too: a retried one comes back to the monitor as the same failed message.
        var deliveries = outcome.Rejected.Count > 0 || retried
            ? events.Select((recorded, index) => (Key: (recorded.StreamId, recorded.Version), Delivery: carriers[index]))
                .DistinctBy(entry => entry.Key).ToDictionary(entry => entry.Key, entry => entry.Delivery)
            : null;
        await _applier.DeadLetterAsync(channel, rejected.Concat(_applier.Letters(outcome.Rejected,
            invalid => deliveries?.GetValueOrDefault((invalid.StreamId, invalid.Version)) is { } delivery ? AsDelivered(invalid, delivery) : null)),
            stoppingToken);
        if (outcome.Parked > 0)
        {
            await repair.RequestAsync(channel, live.Schema, stoppingToken);
        }
        else if (retried)
        {
            var failed = outcome.Rejected.Select(invalid => (invalid.Event.StreamId, invalid.Event.Version)).ToHashSet();
            await SayAppliedAsync(channel, [.. deliveries!.Where(entry => !failed.Contains(entry.Key) && entry.Value.FailedMessageId is not null)
                .Select(entry => entry.Value.FailedMessageId!)], stoppingToken);
        }

        await channel.BasicAckAsync(batch[^1].Tag, multiple: true, stoppingToken);
    }

    /// <summary>
    /// Tells the monitor that messages it sent again applied (or were already applied): their failed messages are
    /// resolved. Confirmed by the broker; a notice lost with a monitor that is down leaves the message retrying until
    /// the monitor's outcome window sends it back to unresolved.
    /// </summary>
    private async Task SayAppliedAsync(IChannel channel, IReadOnlyList<string> failedMessageIds, CancellationToken stoppingToken)
    {
        await channel.ExchangeDeclareAsync(Topology.FailedMessageOutcomesExchange, ExchangeType.Fanout, durable: true,
            cancellationToken: stoppingToken);
        foreach (var id in failedMessageIds)
        {
            var properties = new BasicProperties { Persistent = true, ContentType = "application/json", Type = Topology.FailedMessageAppliedType };
            var body = JsonSerializer.SerializeToUtf8Bytes(new FailedMessageApplied(id, consumer, DateTimeOffset.UtcNow), Json);
            await BrokerSafety.ConfirmedWithinTimeoutAsync(async deadline =>
                await channel.BasicPublishAsync(Topology.FailedMessageOutcomesExchange, "", mandatory: false, properties, body, deadline),
                stoppingToken);
        }
    }

    /// <summary>
    /// One span for the batch's write, in the trace of its first traced event and linked to the traces of the others
    /// (a batch serves many requests; links are how a span belongs to more than one trace).
    /// </summary>
    private Activity? StartApplyActivity(List<Delivery> batch)
    {
        var activity = Telemetry.StartForMany($"{Topology.LiveQueue(consumer)} process", ActivityKind.Consumer,
            batch.Select(delivery => delivery.TraceParent), rootWhenUntraced: true);
        activity?.SetTag("messaging.system", "rabbitmq");
        activity?.SetTag("messaging.operation.type", "process");
        activity?.SetTag("messaging.destination.name", Topology.LiveQueue(consumer));
        activity?.SetTag("messaging.batch.message_count", batch.Count);
        return activity;
    }

    /// <summary>
    /// An event set aside as it was delivered: a message of its own as is; one of a batch message as a message of one
    /// event (what the monitor sends again) with the batch's headers but its count.
    /// </summary>
    private static (ReadOnlyMemory<byte> Body, IDictionary<string, object?>? Headers) AsDelivered(RecordedEvent recorded, Delivery delivery) =>
        delivery.Type == Topology.ReplayBatchType
            ? (JsonSerializer.SerializeToUtf8Bytes(recorded, Json),
                delivery.Headers?.Where(header => header.Key != Topology.EventCountHeader).ToDictionary())
            : (delivery.Body, delivery.Headers);

    /// <summary>Adds the delivery's events to <paramref name="events"/>: one, or a live batch message's; else says why not.</summary>
    private static bool Read(Delivery delivery, List<RecordedEvent> events, out string? reason)
    {
        reason = null;
        try
        {
            if (delivery.Type is null or Topology.RecordedEventType)
            {
                var recorded = JsonSerializer.Deserialize<RecordedEvent>(delivery.Body.Span, Json);
                reason = Check(recorded);
                if (reason is null)
                {
                    events.Add(recorded!);
                }

                return reason is null;
            }

            if (delivery.Type != Topology.ReplayBatchType)
            {
                reason = $"Unexpected message type '{delivery.Type}'.";
                return false;
            }

            var batch = ReplayBatchReader.Read(delivery.Body);
            reason = batch.ReplayId != Topology.LiveBatch
                ? $"A replay batch ('{batch.ReplayId}') on the live queue."
                : batch.Events.Select(Check).FirstOrDefault(problem => problem is not null);
            if (reason is null)
            {
                events.AddRange(batch.Events);
            }

            return reason is null;
        }
        catch (JsonException exception)
        {
            reason = $"Unreadable JSON: {exception.Message}";
            return false;
        }
    }

    private static string? Check(RecordedEvent? recorded) =>
        recorded is null || string.IsNullOrEmpty(recorded.StreamId) || string.IsNullOrEmpty(recorded.Type) || recorded.Version < 1 || recorded.Position < 1
            ? "Not a recorded event: position, streamId, version and type are required."
            : null;

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Consumer}: {Count} live message(s) not published by the producer set aside (user_id {UserId})")]
    private partial void LogForged(string consumer, int count, string userId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Consuming {Consumer} live events")]
    private partial void LogListening(string consumer);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Consumer {Consumer} could not repair its cache now; trying again later")]
    private partial void LogMaintenanceFailed(Exception exception, string consumer);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Consumer {Consumer} lost its queue; reconnecting in {DelayMs} ms")]
    private partial void LogStopped(Exception exception, string consumer, double delayMs);
}
