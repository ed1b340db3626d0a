using EventReplay.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;
using StackExchange.Redis;

namespace EventReplay.Messaging;

public static class RedisSetup
{
    /// <summary>
    /// One shared multiplexer from <c>ConnectionStrings:redis</c>, tuned to fail fast: a service must keep
    /// working on PostgreSQL alone while Redis is away, and reconnect by itself when it is back.
    /// </summary>
    public static WebApplicationBuilder AddRedis(this WebApplicationBuilder builder)
    {
        var options = ConfigurationOptions.Parse(builder.RequiredConnectionString("redis"));
        options.AbortOnConnectFail = false;
        options.ConnectTimeout = 1000;
        options.SyncTimeout = 500;
        options.AsyncTimeout = 500;
        options.ConnectRetry = 1;
        // While disconnected, fail at once instead of queueing commands until a timeout.
        options.BacklogPolicy = BacklogPolicy.FailFast;
        // One server, no primary to elect: no tie-breaker key to read and no configuration channel to subscribe to, which
        // a service's Redis user (its own keys only, no channels) may not.
        options.TieBreaker = "";
        options.ConfigurationChannel = "";
        builder.Services.AddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect(options));
        builder.Services.AddSingleton<VersionedCache>();
        builder.Services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddRedisInstrumentation());
        return builder;
    }
}
