using System.Text.Json;
using EventReplay.Contracts;
using EventReplay.Contracts.Replays;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace EventReplay.Hosting.Consuming;

/// <summary>
/// Consumes a consumer's replay queue: each message is a whole <see cref="ReplayBatch"/>, applied by the same
/// handler as live events (the version rule makes a replayed event that is already applied a skip), then answered
/// on <see cref="Topology.ReplayAcksQueue"/> with the counts, then acknowledged. A crash before the answer only
/// redelivers the batch; the replay service counts each batch once. A <c>redeliver</c> batch goes to the live copy
/// of the read model, a <c>rebuild</c> batch to the fresh copy (<see cref="ReadModelCopies"/>), which
/// <see cref="RebuildCutOver"/> makes live and <see cref="RebuildAbandoned"/> drops.
/// </summary>
public sealed partial class ReplayQueueConsumer(
    string consumer, IEventBatchHandler handler, ReadModelCopies copies, IConnectionFactory rabbit, ILogger<ReplayQueueConsumer> logger)
    : BackgroundService
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly BatchApplier _applier = new(consumer, handler, logger);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Backoff.RunUntilStoppedAsync(ConsumeAsync, (exception, delay) => LogStopped(exception, consumer, delay.TotalMilliseconds),
            stoppingToken);

    private async Task ConsumeAsync(CancellationToken stoppingToken)
    {
        await using var connection = await rabbit.CreateConnectionAsync(stoppingToken);
        await using var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true),
            stoppingToken);
        await channel.DeclareTopologyAsync(stoppingToken);
        await channel.BasicQosAsync(0, 2, global: false, stoppingToken);

        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        channel.ChannelShutdownAsync += (_, _) =>
        {
            closed.TrySetResult();
            return Task.CompletedTask;
        };
        var listener = new RabbitMQ.Client.Events.AsyncEventingBasicConsumer(channel);
        // Deliveries are handled one at a time on the client's dispatch loop, so batches apply in the order sent.
        listener.ReceivedAsync += async (_, message) =>
            await HandleAsync(channel, message.DeliveryTag, message.BasicProperties.Type, message.Body.ToArray(), stoppingToken);
        await channel.BasicConsumeAsync(Topology.ReplayQueue(consumer), autoAck: false, listener, stoppingToken);
        LogListening(consumer);
        await closed.Task.WaitAsync(stoppingToken);
        throw new InvalidOperationException($"The channel of {Topology.ReplayQueue(consumer)} closed.");
    }

    private async Task HandleAsync(IChannel channel, ulong tag, string? type, byte[] body, CancellationToken stoppingToken)
    {
        for (var backoff = TimeSpan.FromMilliseconds(100); ; backoff = Backoff.Next(backoff))
        {
            try
            {
                await DispatchAsync(channel, type, body, stoppingToken);
                break;
            }
            catch (Exception exception) when (DependencyFailure.IsDependencyDown(exception) && !stoppingToken.IsCancellationRequested)
            {
                // Nothing is acknowledged while PostgreSQL or Redis is away: the same message is tried again.
                LogRetrying(exception, consumer, backoff.TotalMilliseconds);
                await Task.Delay(backoff, stoppingToken);
            }
            catch (Exception exception) when (exception is JsonException or InvalidOperationException)
            {
                await _applier.DeadLetterAsync(channel, [(body, $"Replay message not applied: {exception.Message}")], stoppingToken);
                break;
            }
        }

        await channel.BasicAckAsync(tag, multiple: false, stoppingToken);
    }

    private async Task DispatchAsync(IChannel channel, string? type, byte[] body, CancellationToken stoppingToken)
    {
        switch (type)
        {
            case null or Topology.ReplayBatchType:
                await ApplyAsync(channel, body, stoppingToken);
                break;
            case Topology.RebuildCutOverType:
                var cutOver = Read<RebuildCutOver>(body);
                var position = await copies.CutOverAsync(cutOver.ReplayId, handler, stoppingToken);
                await AnswerAsync(channel, new RebuildCutOverDone(cutOver.ReplayId, position), stoppingToken);
                break;
            case Topology.RebuildAbandonedType:
                await copies.AbandonAsync(Read<RebuildAbandoned>(body).ReplayId, stoppingToken);
                break;
            default:
                throw new JsonException($"Unexpected message type '{type}'.");
        }
    }

    private async Task ApplyAsync(IChannel channel, byte[] body, CancellationToken stoppingToken)
    {
        var batch = Read<ReplayBatch>(body);
        var copy = batch.Mode switch
        {
            ReplayModes.Redeliver => copies.Live,
            ReplayModes.Rebuild => await copies.ShadowAsync(batch.ReplayId, handler, stoppingToken),
            _ => throw new JsonException($"Unknown replay mode '{batch.Mode}'."),
        };
        var events = batch.Events.OrderBy(e => e.Position).ToList();
        var outcome = await _applier.ApplyAsync(events, copy, stoppingToken);
        await _applier.DeadLetterAsync(channel, BatchApplier.Bodies(outcome.Rejected), stoppingToken);
        await AnswerAsync(channel, new ReplayBatchApplied(batch.ReplayId, batch.Sequence, outcome.Applied, outcome.Skipped,
            outcome.Parked, outcome.Rejected.Count, events.Count > 0 ? events[^1].Position : 0), stoppingToken);
        LogApplied(consumer, batch.ReplayId, batch.Sequence, outcome.Applied, outcome.Skipped);
    }

    private static async Task AnswerAsync<T>(IChannel channel, T answer, CancellationToken stoppingToken)
    {
        var properties = new BasicProperties { Persistent = true, ContentType = "application/json", Type = Topology.AnswerType(typeof(T)) };
        await channel.BasicPublishAsync("", Topology.ReplayAcksQueue, mandatory: false, properties,
            JsonSerializer.SerializeToUtf8Bytes(answer, Json), stoppingToken);
    }

    /// <summary>A message of the replay queue, or a <see cref="JsonException"/> saying why it is not one.</summary>
    private static T Read<T>(byte[] body) where T : class
    {
        var message = JsonSerializer.Deserialize<T>(body, Json) ?? throw new JsonException("The body is null.");
        var valid = message switch
        {
            ReplayBatch batch => !string.IsNullOrEmpty(batch.ReplayId) && batch.Events is not null,
            RebuildCutOver cutOver => !string.IsNullOrEmpty(cutOver.ReplayId),
            RebuildAbandoned abandoned => !string.IsNullOrEmpty(abandoned.ReplayId),
            _ => true,
        };
        return valid ? message : throw new JsonException($"Not a {typeof(T).Name}: replayId is required.");
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Consuming {Consumer} replay batches")]
    private partial void LogListening(string consumer);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Consumer {Consumer} applied replay {ReplayId} batch {Sequence}: {Applied} applied, {Skipped} skipped")]
    private partial void LogApplied(string consumer, string replayId, int sequence, int applied, int skipped);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Consumer {Consumer} could not handle a replay message; retrying in {DelayMs} ms")]
    private partial void LogRetrying(Exception exception, string consumer, double delayMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Consumer {Consumer} lost its replay queue; reconnecting in {DelayMs} ms")]
    private partial void LogStopped(Exception exception, string consumer, double delayMs);
}
