using System.Text.Json;
using EventReplay.Contracts;
using EventReplay.Contracts.Monitoring;
using EventReplay.Hosting;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace EventReplay.Monitor.Endpoints;

/// <summary>
/// Records every heartbeat from <see cref="Topology.MonitorHeartbeatsQueue"/> in the <see cref="EndpointStore"/>, acknowledged
/// once recorded; one that cannot be read is dropped with a warning. Once an hour it forgets instances silent for a day.
/// </summary>
public sealed partial class HeartbeatCollector(IConnectionFactory rabbit, EndpointStore store, Metrics.MetricsStore metrics, TimeProvider clock,
    ILogger<HeartbeatCollector> logger)
    : BackgroundService
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private static readonly TimeSpan ForgetEvery = TimeSpan.FromHours(1);

    private DateTimeOffset _forgotten = DateTimeOffset.MinValue;

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Backoff.RunUntilStoppedAsync(CollectAsync, (exception, delay) => LogStopped(exception, delay.TotalMilliseconds), stoppingToken);

    private async Task CollectAsync(CancellationToken stoppingToken)
    {
        await QueueListener.ListenAsync(rabbit, async (_, channel, cancellationToken) =>
        {
            await channel.ExchangeDeclareAsync(Topology.HeartbeatsExchange, ExchangeType.Fanout, durable: true, cancellationToken: cancellationToken);
            // Heartbeats are worth something for seconds: each expires after 15 s (set by its sender), and at most 10,000 wait.
            await channel.QueueDeclareAsync(Topology.MonitorHeartbeatsQueue, durable: true, exclusive: false, autoDelete: false,
                new Dictionary<string, object?> { ["x-queue-type"] = "classic", ["x-max-length"] = 10_000 }, cancellationToken: cancellationToken);
            await channel.QueueBindAsync(Topology.MonitorHeartbeatsQueue, Topology.HeartbeatsExchange, "", cancellationToken: cancellationToken);
            LogListening();
        }, prefetch: 100, [new QueueHandler(Topology.MonitorHeartbeatsQueue, RecordAsync)], stoppingToken);
    }

    private async Task RecordAsync(IChannel channel, BasicDeliverEventArgs message, CancellationToken stoppingToken)
    {
        Heartbeat? heartbeat = null;
        try
        {
            heartbeat = JsonSerializer.Deserialize<Heartbeat>(message.Body.Span, Json);
        }
        catch (JsonException exception)
        {
            LogUnreadable(exception);
        }

        if (heartbeat is { Endpoint: not null, InstanceId: not null, Host: not null, Version: not null, Checks: not null })
        {
            // Seen when sent, unless the sender's clock is ahead of ours.
            var now = clock.GetUtcNow();
            var seenAt = heartbeat.SentAt < now ? heartbeat.SentAt : now;
            await store.RecordAsync(heartbeat, seenAt, stoppingToken);
            if (heartbeat.Metrics is { Count: > 0 } figures)
            {
                await metrics.RecordEndpointAsync(seenAt, heartbeat.Endpoint, heartbeat.InstanceId, figures, stoppingToken);
            }
            if (now - _forgotten >= ForgetEvery)
            {
                _forgotten = now;
                await store.ForgetAsync(now - EndpointStore.Forget, stoppingToken);
            }
        }

        await channel.BasicAckAsync(message.DeliveryTag, multiple: false, stoppingToken);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Collecting heartbeats from monitor.heartbeats")]
    private partial void LogListening();

    [LoggerMessage(Level = LogLevel.Warning, Message = "A heartbeat that is not one was dropped")]
    private partial void LogUnreadable(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Collecting heartbeats stopped; retrying in {DelayMs} ms")]
    private partial void LogStopped(Exception exception, double delayMs);
}
