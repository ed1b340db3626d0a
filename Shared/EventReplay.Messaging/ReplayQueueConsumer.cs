using System.Buffers;
using System.Text.Json;
using System.Threading.Channels;
using CommunityToolkit.HighPerformance.Buffers;
using EventReplay.Contracts;
using EventReplay.Contracts.Replays;
using EventReplay.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace EventReplay.Messaging;

/// <summary>
/// Consumes a consumer's replay queue: each message is a whole <see cref="ReplayBatch"/>, applied by the same
/// handler as live events (the version rule makes a replayed event that is already applied a skip), then answered
/// on <see cref="Topology.ReplayAcksQueue"/> with the counts, then acknowledged. Batches of one replay that are
/// already waiting when the consumer gets to them (up to <see cref="MaxGroup"/>) are applied in one transaction and
/// answered with one message: a backlog costs one commit, one cache write and one answer per group, not per batch.
/// A crash before the answer only redelivers; the replay service counts each batch once. A <c>redeliver</c> batch
/// goes to the live copy of the read model, a <c>rebuild</c> batch to the fresh copy (<see cref="ReadModelCopies"/>),
/// which <see cref="RebuildCutOver"/> makes live and <see cref="RebuildAbandoned"/> drops.
/// </summary>
public sealed partial class ReplayQueueConsumer(
    string consumer, IEventBatchHandler handler, ReadModelCopies copies, IConnectionFactory rabbit, BrokerTopology topology,
    BrokerUsers users, ILogger<ReplayQueueConsumer> logger)
    : BackgroundService
{
    private static readonly JsonSerializerOptions Json = StrictJson.Options;

    /// <summary>At most this many waiting batches of one replay are applied in one transaction.</summary>
    public const int MaxGroup = 8;

    /// <summary>A message whose handling fails this often (for any reason but a dependency being down) is dead-lettered.</summary>
    public const int MaxAttempts = 5;

    // Message bodies are copied out of the client's buffer into arrays from here and given back once handled: a batch
    // of 500 events is ~100 KB, so a fresh array per message would be a large-object allocation (and, some hundreds
    // of MB later, a full collection) per batch. Room for every message the prefetch lets in plus a group being applied.
    private static readonly ArrayPool<byte> Bodies = ArrayPool<byte>.Create(maxArrayLength: 16 * 1024 * 1024, maxArraysPerBucket: MaxGroup * 4);

    private readonly BatchApplier _applier = new(consumer, handler, logger);

    // The previous message's answer and acknowledgement, waiting for the broker's confirm while the next one applies.
    private Task _answered = Task.CompletedTask;

    // The highest batch applied of the latest replay: batches up to it that come again are re-sends.
    private (string? ReplayId, int Sequence) _highest;

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Backoff.RunUntilStoppedAsync(ConsumeAsync, (exception, delay) => LogStopped(exception, consumer, delay.TotalMilliseconds),
            stoppingToken);

    private async Task ConsumeAsync(CancellationToken stoppingToken)
    {
        await using var connection = (await rabbit.CreateConnectionAsync(stoppingToken)).LogBlocking(logger, Topology.ReplayQueue(consumer));
        await topology.DeclareAsync(connection, BrokerTopology.ConsumerOwns(consumer), stoppingToken);
        await using var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true),
            stoppingToken);
        await channel.BasicQosAsync(0, MaxGroup * 2, global: false, stoppingToken);
        _answered = Task.CompletedTask; // whatever was pending went with the previous channel (unacknowledged: redelivered)

        var inbox = Channel.CreateUnbounded<Delivery>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        channel.ChannelShutdownAsync += (_, _) =>
        {
            inbox.Writer.TryComplete();
            return Task.CompletedTask;
        };
        var listener = new RabbitMQ.Client.Events.AsyncEventingBasicConsumer(channel);
        // Batches are read from JSON here, on the client's dispatch loop, while the loop below applies earlier ones.
        listener.ReceivedAsync += async (_, message) =>
        {
            var body = MemoryOwner<byte>.Allocate(message.Body.Length, Bodies, AllocationMode.Default);
            message.Body.CopyTo(body.Memory);
            // Who sent it is the broker-checked user_id: the replay service's (or the monitor's, sending a failed one again).
            var refusal = users.RefusesControl(message.BasicProperties.UserId, message.BasicProperties.Headers);
            var delivery = new Delivery(message.DeliveryTag, message.BasicProperties.Type, body, message.Redelivered, refusal);
            if (refusal is null)
            {
                TryReadBatch(delivery);
            }
            await inbox.Writer.WriteAsync(delivery, stoppingToken);
        };
        await channel.BasicConsumeAsync(Topology.ReplayQueue(consumer), autoAck: false, listener, stoppingToken);
        LogListening(consumer);

        // Messages are handled one at a time, in the order sent; the batches of one replay that are already waiting
        // are applied together.
        var group = new List<(Delivery Delivery, ReplayBatch Batch)>(MaxGroup);
        while (await inbox.Reader.WaitToReadAsync(stoppingToken))
        {
            while (group.Count < MaxGroup && inbox.Reader.TryRead(out var delivery))
            {
                // A redelivered batch is applied on its own (see Follows).
                var batch = delivery.Redelivered ? null : delivery.Batch;
                if (batch is not null && group.Count > 0 && Follows(group[^1].Batch, batch))
                {
                    group.Add((delivery, batch));
                    continue;
                }

                await HandleAsync(channel, group, stoppingToken);
                if (batch is not null && IsNew(batch))
                {
                    group.Add((delivery, batch));
                }
                else
                {
                    await HandleAsync(channel, delivery, stoppingToken);
                }
            }

            await HandleAsync(channel, group, stoppingToken);
        }

        throw new InvalidOperationException($"The channel of {Topology.ReplayQueue(consumer)} closed.");
    }

    /// <summary>A message as it arrived: its body (a pooled copy) and, when the message is a readable batch, the batch read from it.</summary>
    private sealed class Delivery(ulong tag, string? type, MemoryOwner<byte> body, bool redelivered, string? refusal)
    {
        private IDisposable? _document;

        public ulong Tag => tag;

        public string? Type => type;

        public ReadOnlyMemory<byte> Body => body.Memory;

        public bool Redelivered => redelivered;

        /// <summary>Why the message is not taken whatever it holds (its sender), else null.</summary>
        public string? Refusal => refusal;

        /// <summary>The batch, read on arrival (null: anything else).</summary>
        public ReplayBatch? Batch { get; private set; }

        public void Read(ReplayBatch batch, IDisposable document) => (Batch, _document) = (batch, document);

        /// <summary>Once the message is handled (its work done or dead-lettered): gives its arrays back.</summary>
        public void Release()
        {
            _document?.Dispose();
            body.Dispose();
        }
    }

    /// <summary>
    /// A batch delivered for the first time that may join others: the replay's next batch, same replay and mode.
    /// A redelivered or re-sent batch is applied on its own, so an answer never mixes counted and uncounted batches.
    /// </summary>
    private static bool Follows(ReplayBatch previous, ReplayBatch next) =>
        next.ReplayId == previous.ReplayId && next.Mode == previous.Mode && next.Sequence == previous.Sequence + 1;

    /// <summary>A batch later than any this consumer applied for its replay (a re-sent one is not).</summary>
    private bool IsNew(ReplayBatch batch) => batch.ReplayId != _highest.ReplayId || batch.Sequence > _highest.Sequence;

    /// <summary>Reads the delivery's batch, when it is a readable one; anything else is handled on its own, which dead-letters it with the reason.</summary>
    private static void TryReadBatch(Delivery delivery)
    {
        if (delivery.Type is not (null or Topology.ReplayBatchType))
        {
            return;
        }

        try
        {
            var batch = ReadBatch(delivery.Body, out var document);
            if (ReplayModes.All.Contains(batch.Mode))
            {
                delivery.Read(batch, document);
            }
            else
            {
                document.Dispose();
            }
        }
        catch (JsonException)
        {
            // not a batch: handled on its own (see HandleAsync), which dead-letters it with the reason
        }
    }

    /// <summary>Handles one message, then gives its arrays back (also when handling stops with an error: nothing refers to them then).</summary>
    private async Task HandleAsync(IChannel channel, Delivery delivery, CancellationToken stoppingToken)
    {
        try
        {
            await WithRetriesAsync(channel, delivery.Tag, [(delivery.Body, delivery.Type)],
                async () => delivery.Refusal is { } refusal
                    ? throw new InvalidOperationException(refusal)
                    : delivery.Batch is { } batch
                        ? await ApplyAsync(channel, [batch], stoppingToken)
                        : await DispatchAsync(channel, delivery.Type, delivery.Body, stoppingToken),
                stoppingToken);
        }
        finally
        {
            delivery.Release();
        }
    }

    /// <summary>Handles a group of batches (if any), then gives their arrays back and empties the group.</summary>
    private async Task HandleAsync(IChannel channel, List<(Delivery Delivery, ReplayBatch Batch)> group, CancellationToken stoppingToken)
    {
        if (group.Count == 0)
        {
            return;
        }

        try
        {
            await WithRetriesAsync(channel, group[^1].Delivery.Tag, [.. group.Select(member => (member.Delivery.Body, member.Delivery.Type))],
                async () => await ApplyAsync(channel, [.. group.Select(member => member.Batch)], stoppingToken), stoppingToken);
        }
        finally
        {
            foreach (var (delivery, _) in group)
            {
                delivery.Release();
            }

            group.Clear();
        }
    }

    /// <summary>
    /// Runs a message's work until it is done (retried while PostgreSQL or Redis is away: nothing is acknowledged
    /// meanwhile) or cannot be done (dead-lettered), then sends its answer and, once the broker has confirmed the
    /// answer, acknowledges it and every earlier delivery. The next message is applied meanwhile: only its own answer
    /// waits for that confirm.
    /// </summary>
    private async Task WithRetriesAsync(IChannel channel, ulong tag, IReadOnlyList<(ReadOnlyMemory<byte> Body, string? Type)> messages,
        Func<Task<object?>> work,
        CancellationToken stoppingToken)
    {
        object? answer = null;
        var failures = 0;
        for (var backoff = TimeSpan.FromMilliseconds(100); ; backoff = Backoff.Next(backoff))
        {
            try
            {
                answer = await work();
                break;
            }
            catch (Exception exception) when (DependencyFailure.IsDependencyDown(exception) && !stoppingToken.IsCancellationRequested)
            {
                LogRetrying(exception, consumer, backoff.TotalMilliseconds);
                await Task.Delay(backoff, stoppingToken);
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                // A message that cannot be read or does not fit is set aside at once; any other failure is tried a few
                // times (it may pass) and then set aside too, so no message is redelivered for ever. (A disposed object
                // is our bug, not the message's: it is retried like any other, and its reason names it.)
                var unfit = exception is JsonException or InvalidOperationException and not ObjectDisposedException;
                if (!unfit && ++failures < MaxAttempts)
                {
                    LogFailedAttempt(exception, consumer, failures, backoff.TotalMilliseconds);
                    await Task.Delay(backoff, stoppingToken);
                    continue;
                }

                await _answered;
                var reason = unfit
                    ? $"Replay message not applied: {exception.Message}"
                    : $"Replay message not applied after {failures} attempts: {exception.GetType().Name}: {exception.Message}";
                await _applier.DeadLetterAsync(channel,
                    messages.Select(message => new DeadLetter(message.Body, reason, Topology.ReplayQueue(consumer), message.Type)), stoppingToken);
                break;
            }
        }

        await _answered;
        _answered = AnswerThenAckAsync(channel, answer, tag, stoppingToken);
    }

    private static async Task AnswerThenAckAsync(IChannel channel, object? answer, ulong tag, CancellationToken stoppingToken)
    {
        if (answer is not null)
        {
            var properties = new BasicProperties
            {
                Persistent = true, ContentType = "application/json", Type = Topology.AnswerType(answer.GetType()),
            };
            var body = JsonSerializer.SerializeToUtf8Bytes(answer, answer.GetType(), Json);
            await BrokerSafety.ConfirmedWithinTimeoutAsync(async deadline =>
                await channel.BasicPublishAsync("", Topology.ReplayAcksQueue, mandatory: false, properties, body, deadline), stoppingToken);
        }

        await channel.BasicAckAsync(tag, multiple: true, stoppingToken);
    }

    /// <summary>Does what a message asks; returns the answer to send, if it has one.</summary>
    private async Task<object?> DispatchAsync(IChannel channel, string? type, ReadOnlyMemory<byte> body, CancellationToken stoppingToken)
    {
        switch (type)
        {
            case null or Topology.ReplayBatchType:
                var batch = ReadBatch(body, out var document);
                using (document)
                {
                    return await ApplyAsync(channel, [batch], stoppingToken);
                }

            case Topology.RebuildCutOverType:
                var cutOver = Read<RebuildCutOver>(body);
                var position = await copies.CutOverAsync(cutOver.ReplayId, handler, stoppingToken);
                return new RebuildCutOverDone(cutOver.ReplayId, position);
            case Topology.RebuildAbandonedType:
                await copies.AbandonAsync(Read<RebuildAbandoned>(body).ReplayId, stoppingToken);
                return null;
            default:
                throw new JsonException($"Unexpected message type '{type}'.");
        }
    }

    /// <summary>Applies batches of one replay (one, or several that were waiting) in one transaction; one answer for them all.</summary>
    private async Task<ReplayBatchApplied> ApplyAsync(IChannel channel, IReadOnlyList<ReplayBatch> batches, CancellationToken stoppingToken)
    {
        var first = batches[0];
        var copy = first.Mode switch
        {
            ReplayModes.Redeliver => copies.Live,
            ReplayModes.Rebuild => await copies.ShadowAsync(first.ReplayId, handler, stoppingToken),
            _ => throw new JsonException($"Unknown replay mode '{first.Mode}'."),
        };
        var events = InPositionOrder(batches);
        var outcome = await _applier.ApplyAsync(events, copy, stoppingToken);
        if (outcome.Rejected.Count > 0)
        {
            await _answered; // one publisher on the channel at a time
            await _applier.DeadLetterAsync(channel, _applier.Letters(outcome.Rejected), stoppingToken);
        }

        var last = batches[^1];
        if (last.ReplayId != _highest.ReplayId || last.Sequence > _highest.Sequence)
        {
            _highest = (last.ReplayId, last.Sequence);
        }

        LogApplied(consumer, first.ReplayId, first.Sequence, last.Sequence, outcome.Applied, outcome.Skipped);
        return new ReplayBatchApplied(first.ReplayId, last.Sequence, outcome.Applied, outcome.Skipped, outcome.Parked,
            outcome.Rejected.Count, events.Count > 0 ? events[^1].Position : 0,
            batches.Count > 1 ? [.. batches.Select(batch => batch.Sequence)] : null);
    }

    /// <summary>The events of consecutive batches, in position order (already so, unless a sender mixed them up).</summary>
    private static List<RecordedEvent> InPositionOrder(IReadOnlyList<ReplayBatch> batches)
    {
        var events = batches.SelectMany(batch => batch.Events).ToList();
        for (var i = 1; i < events.Count; i++)
        {
            if (events[i].Position < events[i - 1].Position)
            {
                return [.. events.OrderBy(e => e.Position)];
            }
        }

        return events;
    }

    /// <summary>A replay batch (read by <see cref="ReplayBatchReader"/>), or a <see cref="JsonException"/> saying why it is not one.</summary>
    private static ReplayBatch ReadBatch(ReadOnlyMemory<byte> body, out IDisposable document)
    {
        var batch = ReplayBatchReader.Read(body, out document);
        if (!string.IsNullOrEmpty(batch.ReplayId) && batch.Events is not null)
        {
            return batch;
        }

        document.Dispose();
        throw new JsonException("Not a ReplayBatch: replayId and events are required.");
    }

    /// <summary>A control message of the replay queue, or a <see cref="JsonException"/> saying why it is not one.</summary>
    private static T Read<T>(ReadOnlyMemory<byte> body) where T : class
    {
        var message = JsonSerializer.Deserialize<T>(body.Span, Json) ?? throw new JsonException("The body is null.");
        var valid = message switch
        {
            RebuildCutOver cutOver => !string.IsNullOrEmpty(cutOver.ReplayId),
            RebuildAbandoned abandoned => !string.IsNullOrEmpty(abandoned.ReplayId),
            _ => true,
        };
        return valid ? message : throw new JsonException($"Not a {typeof(T).Name}: replayId is required.");
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Consuming {Consumer} replay batches")]
    private partial void LogListening(string consumer);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Consumer {Consumer} applied replay {ReplayId} batches {First}-{Last}: {Applied} applied, {Skipped} skipped")]
    private partial void LogApplied(string consumer, string replayId, int first, int last, int applied, int skipped);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Consumer {Consumer} could not handle a replay message; retrying in {DelayMs} ms")]
    private partial void LogRetrying(Exception exception, string consumer, double delayMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Consumer {Consumer} failed to handle a replay message (attempt {Attempt}); retrying in {DelayMs} ms")]
    private partial void LogFailedAttempt(Exception exception, string consumer, int attempt, double delayMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Consumer {Consumer} lost its replay queue; reconnecting in {DelayMs} ms")]
    private partial void LogStopped(Exception exception, string consumer, double delayMs);
}
