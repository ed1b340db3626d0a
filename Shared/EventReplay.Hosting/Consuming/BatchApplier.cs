using System.Text.Json;
using EventReplay.Contracts;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace EventReplay.Hosting.Consuming;

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

    /// <summary>Puts messages on the consumer's dead-letter queue with the reason (publisher confirms awaited).</summary>
    public async Task DeadLetterAsync(IChannel channel, IEnumerable<(ReadOnlyMemory<byte> Body, string Reason)> rejected,
        CancellationToken stoppingToken)
    {
        foreach (var (body, reason) in rejected)
        {
            LogDeadLettered(consumer, reason);
            var properties = new BasicProperties
            {
                Persistent = true,
                ContentType = "application/json",
                Headers = new Dictionary<string, object?> { ["x-reason"] = reason, ["x-consumer"] = consumer },
            };
            await BrokerSafety.ConfirmedWithinTimeoutAsync(async deadline =>
                await channel.BasicPublishAsync("", Topology.DeadLetterQueue(consumer), mandatory: false, properties, body, deadline),
                stoppingToken);
        }
    }

    public static IEnumerable<(ReadOnlyMemory<byte> Body, string Reason)> Bodies(IEnumerable<Rejected> rejected) =>
        rejected.Select(invalid => ((ReadOnlyMemory<byte>)JsonSerializer.SerializeToUtf8Bytes(invalid.Event, Json), invalid.Reason));

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
