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
/// redelivers the batch; the replay service counts each batch once.
/// </summary>
public sealed partial class ReplayQueueConsumer(
    string consumer, IEventBatchHandler handler, IConnectionFactory rabbit, ILogger<ReplayQueueConsumer> logger) : BackgroundService
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly BatchApplier _applier = new(consumer, handler, logger);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var backoff = TimeSpan.FromMilliseconds(250);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await ConsumeAsync(stoppingToken);
                backoff = TimeSpan.FromMilliseconds(250);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception)
            {
                LogStopped(exception, consumer, backoff.TotalMilliseconds);
                await Task.Delay(backoff, stoppingToken);
                backoff = TimeSpan.FromMilliseconds(Math.Min(backoff.TotalMilliseconds * 2, 5000));
            }
        }
    }

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
            await HandleAsync(channel, message.DeliveryTag, message.Body.ToArray(), stoppingToken);
        await channel.BasicConsumeAsync(Topology.ReplayQueue(consumer), autoAck: false, listener, stoppingToken);
        LogListening(consumer);
        await closed.Task.WaitAsync(stoppingToken);
        throw new InvalidOperationException($"The channel of {Topology.ReplayQueue(consumer)} closed.");
    }

    private async Task HandleAsync(IChannel channel, ulong tag, byte[] body, CancellationToken stoppingToken)
    {
        ReplayBatch? batch = null;
        string? unreadable = null;
        try
        {
            batch = JsonSerializer.Deserialize<ReplayBatch>(body, Json);
            if (batch is null || string.IsNullOrEmpty(batch.ReplayId) || batch.Events is null)
            {
                unreadable = "Not a replay batch: replayId, sequence and events are required.";
            }
        }
        catch (JsonException exception)
        {
            unreadable = $"Unreadable JSON: {exception.Message}";
        }

        if (unreadable is not null || batch is null || batch.Mode != ReplayModes.Redeliver)
        {
            await _applier.DeadLetterAsync(channel, [(body, unreadable ?? $"Replay mode '{batch?.Mode}' is not applied by this consumer.")], stoppingToken);
            await channel.BasicAckAsync(tag, multiple: false, stoppingToken);
            return;
        }

        var events = (batch.Events ?? []).OrderBy(e => e.Position).ToList();
        var outcome = await _applier.ApplyAsync(events, stoppingToken);
        await _applier.DeadLetterAsync(channel, BatchApplier.Bodies(outcome.Rejected), stoppingToken);
        var answer = new ReplayBatchApplied(batch.ReplayId, batch.Sequence, outcome.Applied, outcome.Skipped, outcome.Parked,
            outcome.Rejected.Count, events.Count > 0 ? events[^1].Position : 0);
        var properties = new BasicProperties { Persistent = true, ContentType = "application/json", Type = Topology.ReplayBatchAppliedType };
        await channel.BasicPublishAsync("", Topology.ReplayAcksQueue, mandatory: false, properties,
            JsonSerializer.SerializeToUtf8Bytes(answer, Json), stoppingToken);
        await channel.BasicAckAsync(tag, multiple: false, stoppingToken);
        LogApplied(consumer, batch.ReplayId, batch.Sequence, outcome.Applied, outcome.Skipped);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Consuming {Consumer} replay batches")]
    private partial void LogListening(string consumer);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Consumer {Consumer} applied replay {ReplayId} batch {Sequence}: {Applied} applied, {Skipped} skipped")]
    private partial void LogApplied(string consumer, string replayId, int sequence, int applied, int skipped);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Consumer {Consumer} lost its replay queue; reconnecting in {DelayMs} ms")]
    private partial void LogStopped(Exception exception, string consumer, double delayMs);
}
