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
        builder.AddPostgres();
        builder.AddRedis();
        builder.AddRabbitMq();
        builder.Services.AddSingleton<PostgresMonitor>();
        builder.Services.AddHostedService(services => services.GetRequiredService<PostgresMonitor>());
        builder.Services.AddSingleton<THandler>();
        builder.Services.AddHostedService(services =>
            ActivatorUtilities.CreateInstance<LiveQueueConsumer>(services, consumer, services.GetRequiredService<THandler>()));
        builder.Services.AddHostedService(services =>
            ActivatorUtilities.CreateInstance<ReplayQueueConsumer>(services, consumer, services.GetRequiredService<THandler>()));
        return builder;
    }
}
