using EventReplay.Contracts;
using EventReplay.Hosting;
using EventReplay.Hosting.Monitoring;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace EventReplay.Messaging;

public static class LiveConsumerSetup
{
    /// <summary>
    /// Everything a consumer service needs around its handler: PostgreSQL (with the monitor that marks stale
    /// answers), Redis, RabbitMQ, and a <see cref="LiveQueueConsumer"/> feeding <typeparamref name="THandler"/> from
    /// the consumer's live queue (<see cref="Topology.LiveQueue"/>) and a <see cref="ReplayQueueConsumer"/> feeding
    /// it replay batches from its replay queue (<see cref="Topology.ReplayQueue"/>).
    /// </summary>
    public static WebApplicationBuilder AddLiveConsumer<THandler>(this WebApplicationBuilder builder, string consumer)
        where THandler : class, IEventBatchHandler
    {
        builder.AddPostgres(Databases.ReadModels);
        builder.Services.AddNpgsqlDataSource(builder.PostgresConnectionString(Databases.EventStore), serviceKey: Databases.EventStore);
        builder.Services.AddSingleton(services => new EventStoreSource(services.GetRequiredKeyedService<Npgsql.NpgsqlDataSource>(Databases.EventStore)));
        builder.AddRedis();
        builder.AddRabbitMq();
        builder.Services.AddSingleton<PostgresMonitor>();
        builder.Services.AddHostedService(services => services.GetRequiredService<PostgresMonitor>());
        builder.Services.AddSingleton<EventStoreMonitor>();
        builder.Services.AddHostedService(services => services.GetRequiredService<EventStoreMonitor>());
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<LastAppliedEvent>();
        builder.Services.AddSingleton<ConsumerMetrics>();
        builder.Services.AddSingleton<IHeartbeatMetrics>(services => services.GetRequiredService<ConsumerMetrics>());
        builder.Services.AddSingleton<ReadFreshness>();
        builder.Services.AddSingleton<THandler>();
        builder.Services.AddSingleton<IEventBatchHandler>(services => services.GetRequiredService<THandler>());
        builder.Services.AddSingleton(services => ActivatorUtilities.CreateInstance<ReadModelCopies>(services, consumer));
        builder.Services.AddSingleton(services => ActivatorUtilities.CreateInstance<GapRepair>(services, consumer));
        builder.Services.AddSingleton(services => ActivatorUtilities.CreateInstance<StoreEpochWatch>(services, consumer));
        builder.Services.AddHostedService(services => services.GetRequiredService<StoreEpochWatch>());
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration("store-epoch",
            services => services.GetRequiredService<StoreEpochWatch>(), HealthStatus.Degraded, ["ready"]));
        builder.Services.AddHostedService(services =>
            ActivatorUtilities.CreateInstance<LiveQueueConsumer>(services, consumer));
        builder.Services.AddHostedService(services =>
            ActivatorUtilities.CreateInstance<ReplayQueueConsumer>(services, consumer));
        return builder;
    }

    /// <summary>
    /// Creates the live copy of the read model if missing and reads its checkpoint (the position its answers report until
    /// the first batch applies); call before the host starts.
    /// </summary>
    public static async Task StartReadModelAsync(this WebApplication app) =>
        await DependencyWait.UntilDoneAsync(async cancellationToken =>
            {
                var handler = app.Services.GetRequiredService<IEventBatchHandler>();
                var copies = app.Services.GetRequiredService<ReadModelCopies>();
                await copies.StartAsync(handler, cancellationToken);
                await using var connection = await app.Services.GetRequiredService<NpgsqlDataSource>().OpenConnectionAsync(cancellationToken);
                app.Services.GetRequiredService<LastAppliedEvent>().Started(
                    await handler.CheckpointAsync(connection, copies.Live.Schema, cancellationToken));
            },
            app.Logger, "create the read model", app.Lifetime.ApplicationStopping);
}
