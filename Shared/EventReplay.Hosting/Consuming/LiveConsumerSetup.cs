using EventReplay.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace EventReplay.Hosting.Consuming;

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
        builder.Services.AddNpgsqlDataSource(builder.RequiredConnectionString(Databases.EventStore), serviceKey: Databases.EventStore);
        builder.Services.AddSingleton(services => new EventStoreSource(services.GetRequiredKeyedService<Npgsql.NpgsqlDataSource>(Databases.EventStore)));
        builder.AddRedis();
        builder.AddRabbitMq();
        builder.Services.AddSingleton<PostgresMonitor>();
        builder.Services.AddHostedService(services => services.GetRequiredService<PostgresMonitor>());
        builder.Services.AddSingleton<THandler>();
        builder.Services.AddSingleton<IEventBatchHandler>(services => services.GetRequiredService<THandler>());
        builder.Services.AddSingleton(services => ActivatorUtilities.CreateInstance<ReadModelCopies>(services, consumer));
        builder.Services.AddSingleton(services => ActivatorUtilities.CreateInstance<GapRepair>(services, consumer));
        builder.Services.AddHostedService(services =>
            ActivatorUtilities.CreateInstance<LiveQueueConsumer>(services, consumer));
        builder.Services.AddHostedService(services =>
            ActivatorUtilities.CreateInstance<ReplayQueueConsumer>(services, consumer));
        return builder;
    }

    /// <summary>Creates the live copy of the read model if missing; call before the host starts.</summary>
    public static async Task StartReadModelAsync(this WebApplication app) =>
        await DependencyWait.UntilDoneAsync(
            cancellationToken => app.Services.GetRequiredService<ReadModelCopies>().StartAsync(
                app.Services.GetRequiredService<IEventBatchHandler>(), cancellationToken),
            app.Logger, "create the read model", app.Lifetime.ApplicationStopping);
}
