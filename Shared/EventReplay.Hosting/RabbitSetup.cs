using EventReplay.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;

namespace EventReplay.Hosting;

public static class RabbitSetup
{
    /// <summary>A connection factory for <c>ConnectionStrings:rabbitmq</c> (an amqp:// URI whose path is the vhost).</summary>
    public static WebApplicationBuilder AddRabbitMq(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<IConnectionFactory>(new ConnectionFactory
        {
            Uri = new Uri(builder.RequiredConnectionString("rabbitmq")),
            ClientProvidedName = builder.Environment.ApplicationName,
            RequestedConnectionTimeout = TimeSpan.FromSeconds(3),
            // Our loops reconnect and resume from their own checkpoints; the client's recovery would hide failures.
            AutomaticRecoveryEnabled = false,
        });
        return builder;
    }

    /// <summary>Declares the events exchange and every consumer's durable live and dead-letter queues (idempotent).</summary>
    public static async Task DeclareTopologyAsync(this IChannel channel, CancellationToken cancellationToken)
    {
        await channel.ExchangeDeclareAsync(Topology.EventsExchange, ExchangeType.Fanout, durable: true, autoDelete: false,
            cancellationToken: cancellationToken);
        foreach (var consumer in Topology.Consumers)
        {
            await channel.QueueDeclareAsync(Topology.LiveQueue(consumer), durable: true, exclusive: false, autoDelete: false,
                cancellationToken: cancellationToken);
            await channel.QueueBindAsync(Topology.LiveQueue(consumer), Topology.EventsExchange, routingKey: "",
                cancellationToken: cancellationToken);
            await channel.QueueDeclareAsync(Topology.DeadLetterQueue(consumer), durable: true, exclusive: false, autoDelete: false,
                cancellationToken: cancellationToken);
            await channel.QueueDeclareAsync(Topology.ReplayQueue(consumer), durable: true, exclusive: false, autoDelete: false,
                cancellationToken: cancellationToken);
        }

        foreach (var queue in new[] { Topology.ReplayCommandsQueue, Topology.ReplayAcksQueue })
        {
            await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, cancellationToken: cancellationToken);
        }

        await channel.ExchangeDeclareAsync(Topology.ReplayEventsExchange, ExchangeType.Fanout, durable: true, autoDelete: false,
            cancellationToken: cancellationToken);
    }
}
