using System.Text.Json;
using EventReplay.Contracts;
using EventReplay.Hosting;
using EventReplay.Monitor.Endpoints;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace EventReplay.Monitor.Alerts;

/// <summary>
/// Tells the webhooks when an endpoint's instance goes missing, and when it is back: heard from again, or replaced by a
/// new instance of the same endpoint on the same host (a process its supervisor started again). What the monitor finds
/// at its own start is taken as it is, without notices.
/// </summary>
public sealed partial class EndpointWatch(EndpointStore store, AlertNotifier alerts, TimeProvider clock, ILogger<EndpointWatch> logger)
    : BackgroundService
{
    private static readonly TimeSpan Every = TimeSpan.FromSeconds(2);

    private readonly Dictionary<string, string> _statuses = [];

    // Missing instances not back nor replaced yet.
    private readonly Dictionary<string, EndpointInstance> _missing = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!alerts.Enabled)
        {
            return;
        }

        using var timer = new PeriodicTimer(Every, clock);
        var first = true;
        do
        {
            try
            {
                Compare(await store.ListAsync(stoppingToken), clock.GetUtcNow(), first);
                first = false;
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                LogFailed(exception);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    private void Compare(IReadOnlyList<EndpointInstance> instances, DateTimeOffset now, bool first)
    {
        foreach (var instance in instances)
        {
            var status = instance.StatusAt(now);
            _statuses.TryGetValue(instance.InstanceId, out var before);
            _statuses[instance.InstanceId] = status;
            if (status == before)
            {
                continue;
            }

            if (status == EndpointStatus.Missing)
            {
                _missing[instance.InstanceId] = instance;
                if (!first)
                {
                    alerts.Notify(new Alert("endpoint.missing", now,
                        $"{instance.Endpoint} on {instance.Host} (pid {instance.Pid}) not heard from since {instance.LastSeenAt:u}",
                        Details(instance, null)));
                }
            }
            else if (_missing.Remove(instance.InstanceId))
            {
                if (status == EndpointStatus.Alive && !first)
                {
                    alerts.Notify(new Alert("endpoint.back", now, $"{instance.Endpoint} on {instance.Host} (pid {instance.Pid}) is heard from again",
                        Details(instance, instance.InstanceId)));
                }
            }
        }

        // A missing instance is back when a newer instance of its endpoint runs on its host (its supervisor started it again).
        foreach (var gone in _missing.Values.ToList())
        {
            if (instances.Where(instance => instance.Endpoint == gone.Endpoint && instance.Host == gone.Host && instance.StartedAt > gone.StartedAt
                    && instance.StatusAt(now) == EndpointStatus.Alive).OrderByDescending(instance => instance.StartedAt).FirstOrDefault() is { } newer)
            {
                _missing.Remove(gone.InstanceId);
                if (!first)
                {
                    alerts.Notify(new Alert("endpoint.back", now,
                        $"{newer.Endpoint} on {newer.Host} is back as pid {newer.Pid} (pid {gone.Pid} went missing)", Details(newer, gone.InstanceId)));
                }
            }
        }
    }

    private static object Details(EndpointInstance instance, string? replaces) => new
    {
        instance.Endpoint, instance.InstanceId, instance.Host, instance.Pid, instance.LastSeenAt, replaces,
    };

    [LoggerMessage(Level = LogLevel.Warning, Message = "Watching the endpoints for notices failed; trying again")]
    private partial void LogFailed(Exception exception);
}

/// <summary>
/// Tells the webhooks when a replay fails: reads the replay service's lifecycle events from <c>monitor.replay-events</c>
/// (bound to the <c>replay.events</c> exchange; at most 10,000 wait, each for at most an hour).
/// </summary>
public sealed partial class ReplayFailureWatch(IConnectionFactory rabbit, AlertNotifier alerts, TimeProvider clock,
    ILogger<ReplayFailureWatch> logger) : BackgroundService
{
    public const string Queue = "monitor.replay-events";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private sealed record ReplayFailed(string? ReplayId, string? Error);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        alerts.Enabled
            ? Backoff.RunUntilStoppedAsync(ListenAsync, (exception, delay) => LogStopped(exception, delay.TotalMilliseconds), stoppingToken)
            : Task.CompletedTask;

    private Task ListenAsync(CancellationToken stoppingToken) =>
        QueueListener.ListenAsync(rabbit, async (_, channel, cancellationToken) =>
        {
            await channel.ExchangeDeclareAsync(Topology.ReplayEventsExchange, ExchangeType.Fanout, durable: true, cancellationToken: cancellationToken);
            await channel.QueueDeclareAsync(Queue, durable: true, exclusive: false, autoDelete: false, new Dictionary<string, object?>
            {
                ["x-queue-type"] = "classic", ["x-max-length"] = 10_000, ["x-message-ttl"] = 3_600_000,
            }, cancellationToken: cancellationToken);
            await channel.QueueBindAsync(Queue, Topology.ReplayEventsExchange, "", cancellationToken: cancellationToken);
        }, prefetch: 100, [new QueueHandler(Queue, HandleAsync)], stoppingToken);

    private async Task HandleAsync(IChannel channel, BasicDeliverEventArgs message, CancellationToken stoppingToken)
    {
        if (message.BasicProperties.Type == "ReplayFailed")
        {
            try
            {
                var failed = JsonSerializer.Deserialize<ReplayFailed>(message.Body.Span, Json);
                alerts.Notify(new Alert("replay.failed", clock.GetUtcNow(), $"Replay {failed?.ReplayId} failed: {failed?.Error}",
                    new { replayId = failed?.ReplayId, error = failed?.Error }));
            }
            catch (JsonException exception)
            {
                LogUnreadable(exception);
            }
        }

        await channel.BasicAckAsync(message.DeliveryTag, multiple: false, stoppingToken);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A replay's lifecycle event that is not one was dropped")]
    private partial void LogUnreadable(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Listening to replay events stopped; retrying in {DelayMs} ms")]
    private partial void LogStopped(Exception exception, double delayMs);
}
