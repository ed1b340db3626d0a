using System.Reflection;
using System.Text.Json;
using EventReplay.Contracts;
using EventReplay.Contracts.Monitoring;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace EventReplay.Hosting.Monitoring;

public static class HeartbeatSetup
{
    /// <summary>
    /// The process says it is alive every <see cref="Heartbeat.Interval"/> on <see cref="Topology.HeartbeatsExchange"/>,
    /// as endpoint <paramref name="endpoint"/>, with its health checks (the dependencies it uses), and goodbye when it stops.
    /// </summary>
    public static WebApplicationBuilder AddHeartbeats(this WebApplicationBuilder builder, string endpoint)
    {
        builder.AddRabbitMq();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(services => ActivatorUtilities.CreateInstance<HeartbeatPublisher>(services, endpoint));
        builder.Services.AddHostedService(services => services.GetRequiredService<HeartbeatPublisher>());
        return builder;
    }
}

/// <summary>
/// Publishes this process's <see cref="Heartbeat"/>s. A heartbeat lives 15 s in the broker (a monitor that is down
/// finds only recent ones); a broker that is down only costs heartbeats, which start again once it is back.
/// </summary>
/// <remarks>
/// Its checks are the process's health checks (as <c>/health/ready</c> reports them) and, beside them, the dependencies
/// the process uses whatever its readiness rests on: <c>rabbitmq</c> (the heartbeats' own connection), <c>redis</c> (a
/// ping) and <c>eventstore</c> (a consumer's view of the event store), so an operator sees a dependency's trouble in the
/// console without it making the process unready.
/// </remarks>
public sealed partial class HeartbeatPublisher(string endpoint, IConnectionFactory rabbit, HealthCheckService health, TimeProvider clock,
    IServiceProvider services, ILogger<HeartbeatPublisher> logger) : BackgroundService
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private static readonly string Version =
        Assembly.GetEntryAssembly()?.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    private readonly string _instanceId = Guid.NewGuid().ToString("N");

    private readonly DateTimeOffset _startedAt = clock.GetUtcNow();

    private readonly ConfirmedChannel _channel = new(rabbit, $"{endpoint}'s heartbeats", logger,
        (channel, cancellationToken) => channel.ExchangeDeclareAsync(Topology.HeartbeatsExchange, ExchangeType.Fanout, durable: true,
            cancellationToken: cancellationToken));

    private bool _failing;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Heartbeat.Interval, clock);
        do
        {
            await SendAsync(stopping: false, stoppingToken);
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(TimeSpan.FromSeconds(2));
        await SendAsync(stopping: true, limit.Token);
        await _channel.DisposeAsync();
    }

    private async Task SendAsync(bool stopping, CancellationToken cancellationToken)
    {
        try
        {
            // The checks are taken once the channel is open: the heartbeat's own connection is one of them.
            await _channel.WithChannelAsync(async channel =>
            {
                var checks = stopping ? [] : await ChecksAsync(cancellationToken);
                var heartbeat = new Heartbeat(endpoint, _instanceId, Environment.MachineName, Environment.ProcessId, Version, _startedAt,
                    clock.GetUtcNow(), stopping, checks, stopping ? null : services.GetService<IHeartbeatMetrics>()?.TakeInterval());
                var properties = new BasicProperties
                {
                    ContentType = "application/json",
                    Type = Topology.HeartbeatType,
                    Expiration = ((int)Heartbeat.MissingAfter.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture),
                };
                await BrokerSafety.ConfirmedWithinTimeoutAsync(async deadline =>
                    await channel.BasicPublishAsync(Topology.HeartbeatsExchange, "", mandatory: false, properties,
                        JsonSerializer.SerializeToUtf8Bytes(heartbeat, Json), deadline), cancellationToken, TimeSpan.FromSeconds(3));
            }, cancellationToken);
            if (_failing)
            {
                _failing = false;
                LogSending(endpoint);
            }
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            if (!_failing)
            {
                _failing = true;
                LogFailed(exception, endpoint);
            }
        }
    }

    private async Task<IReadOnlyList<HeartbeatCheck>> ChecksAsync(CancellationToken cancellationToken)
    {
        var report = await health.CheckHealthAsync(cancellationToken);
        var checks = report.Entries.Select(entry => new HeartbeatCheck(entry.Key, entry.Value.Status.ToString().ToLowerInvariant(),
            entry.Value.Description ?? entry.Value.Exception?.Message)).ToList();
        checks.Add(_channel.IsOpen
            ? new HeartbeatCheck("rabbitmq", Healthy, "connected")
            : new HeartbeatCheck("rabbitmq", Unhealthy, "not connected: this heartbeat waits for a connection"));
        if (services.GetService<StackExchange.Redis.IConnectionMultiplexer>() is { } redis)
        {
            checks.Add(await RedisCheckAsync(redis));
        }

        if (services.GetService<EventStoreMonitor>() is { } eventStore)
        {
            checks.Add(eventStore.IsReachable
                ? new HeartbeatCheck("eventstore", Healthy, "reachable")
                : new HeartbeatCheck("eventstore", Unhealthy, "unreachable: reads are served from the read model, no new event can exist"));
        }

        return [.. checks.DistinctBy(check => check.Name).OrderBy(check => check.Name, StringComparer.Ordinal)];
    }

    private const string Healthy = "healthy";

    private const string Unhealthy = "unhealthy";

    private static async Task<HeartbeatCheck> RedisCheckAsync(StackExchange.Redis.IConnectionMultiplexer redis)
    {
        try
        {
            var latency = await redis.GetDatabase().PingAsync();
            return new HeartbeatCheck("redis", Healthy, $"ping {latency.TotalMilliseconds:0.0} ms");
        }
        catch (Exception exception) when (exception is StackExchange.Redis.RedisException or TimeoutException)
        {
            return new HeartbeatCheck("redis", Unhealthy, exception.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Endpoint}: cannot send heartbeats now; the monitor will show this instance missing until they go out again")]
    private partial void LogFailed(Exception exception, string endpoint);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Endpoint}: sending heartbeats again")]
    private partial void LogSending(string endpoint);
}
