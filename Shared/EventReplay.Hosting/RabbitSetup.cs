using EventReplay.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace EventReplay.Hosting;

public static class RabbitSetup
{
    /// <summary>
    /// A connection factory for <c>ConnectionStrings:rabbitmq</c> (an amqp:// URI whose path is the vhost) and the
    /// <see cref="BrokerTopology"/> of <c>RabbitMq:QueueType</c>. Idempotent.
    /// </summary>
    public static WebApplicationBuilder AddRabbitMq(this WebApplicationBuilder builder)
    {
        builder.Services.TryAddSingleton<IConnectionFactory>(new ConnectionFactory
        {
            Uri = new Uri(builder.RequiredConnectionString("rabbitmq")),
            ClientProvidedName = builder.Environment.ApplicationName,
            RequestedConnectionTimeout = TimeSpan.FromSeconds(3),
            // Our loops reconnect and resume from their own checkpoints; the client's recovery would hide failures.
            AutomaticRecoveryEnabled = false,
        });
        builder.Services.TryAddSingleton(BrokerTopology.From(builder.Configuration));
        builder.Services.TryAddSingleton(BrokerUsers.From(builder.Configuration));
        return builder;
    }
}

/// <summary>
/// The exchanges and queues the system owns, declared (idempotently) by every process that uses them, with the queue
/// type of <c>RabbitMq:QueueType</c>: <c>classic</c>, or <c>quorum</c> (RabbitMQ's replicated queues, which also run
/// on one node and are the way to a cluster). Quorum queues get what classic ones cannot have: one active consumer
/// at a time where order matters, and a delivery limit after which the broker dead-letters a message that keeps
/// coming back (a consumer that crashes on it), at least once, to the queue's dead-letter queue.
/// </summary>
public sealed class BrokerTopology(QueueType type)
{
    /// <summary>Deliveries of one message (first included) after which a quorum queue dead-letters it.</summary>
    public const int DeliveryLimit = 20;

    public QueueType Type => type;

    /// <summary>The queue type the system uses when <c>RabbitMq:QueueType</c> is not set.</summary>
    public const QueueType DefaultType = QueueType.Quorum;

    public static BrokerTopology From(IConfiguration configuration) => Parse(configuration["RabbitMq:QueueType"]);

    /// <summary>A queue type by name (<c>classic</c> or <c>quorum</c>, any case); none is <see cref="DefaultType"/>.</summary>
    public static BrokerTopology Parse(string? value) => new(value?.Trim().ToLowerInvariant() switch
    {
        null or "" => DefaultType,
        "classic" => QueueType.Classic,
        "quorum" => QueueType.Quorum,
        _ => throw new InvalidOperationException($"RabbitMq:QueueType must be 'classic' or 'quorum', not '{value}'."),
    });

    /// <summary>Every queue we own, with its arguments for this queue type.</summary>
    public IEnumerable<(string Queue, Dictionary<string, object?> Arguments)> Queues()
    {
        foreach (var consumer in Topology.Consumers)
        {
            yield return (Topology.LiveQueue(consumer), Arguments(Topology.DeadLetterQueue(consumer), ordered: true));
            yield return (Topology.ReplayQueue(consumer), Arguments(Topology.DeadLetterQueue(consumer), ordered: true));
            yield return (Topology.DeadLetterQueue(consumer), Arguments(deadLetters: null, ordered: false));
        }

        yield return (Topology.ReplayCommandsQueue, Arguments(Topology.ReplayDeadLetterQueue, ordered: false));
        yield return (Topology.ReplayAcksQueue, Arguments(Topology.ReplayDeadLetterQueue, ordered: true));
        yield return (Topology.ReplayDeadLetterQueue, Arguments(deadLetters: null, ordered: false));
    }

    /// <summary>
    /// Declares the events exchanges and every queue (idempotent). A queue that exists with another type (or other
    /// arguments) is not touched: RabbitMQ cannot change a queue in place, and deleting one that a fanout exchange feeds
    /// while others publish could drop events, so the error names the queue and the way out (eng/services.sh replaces
    /// empty queues of the wrong type before any service starts).
    /// </summary>
    public Task DeclareAsync(IConnection connection, CancellationToken cancellationToken) =>
        DeclareAsync(connection, _ => true, cancellationToken);

    /// <summary>
    /// Declares the part of the topology a service owns (<paramref name="owns"/> by name: <see cref="ProducerOwns"/>,
    /// <see cref="ConsumerOwns"/>, <see cref="ReplayOwns"/>, <see cref="MonitorOwns"/>), which its broker user may
    /// configure (eng/broker-users.sh). A queue with a dead-letter exchange is declared by its own consumer: RabbitMQ
    /// wants read permission on such a queue (and write on the dead-letter exchange) to create it. So a queue exists once
    /// its consumer first started; what the producer published before that is found by the consumer's gap repair, and a
    /// replay batch sent before it is sent again when its answer does not come.
    /// </summary>
    public async Task DeclareAsync(IConnection connection, Func<string, bool> owns, CancellationToken cancellationToken)
    {
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        foreach (var exchange in new[] { Topology.EventsExchange, Topology.ReplayEventsExchange, Topology.ReplayCommandsExchange }.Where(owns))
        {
            await channel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, autoDelete: false,
                cancellationToken: cancellationToken);
        }

        foreach (var (queue, arguments) in Queues().Where(queue => owns(queue.Queue)))
        {
            try
            {
                await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, arguments,
                    cancellationToken: cancellationToken);
            }
            catch (OperationInterruptedException exception) when (exception.ShutdownReason?.ReplyCode == 406)
            {
                throw new InvalidOperationException(
                    $"Queue '{queue}' exists with other settings than RabbitMq:QueueType={type.ToString().ToLowerInvariant()} asks for "
                    + $"({exception.ShutdownReason.ReplyText}). Start with the queue type it has, or let it drain and delete it "
                    + "(eng/services.sh start does so for empty queues when RabbitMq__QueueType is set).", exception);
            }
        }

        foreach (var consumer in Topology.Consumers.Where(consumer => owns(Topology.LiveQueue(consumer))))
        {
            await channel.QueueBindAsync(Topology.LiveQueue(consumer), Topology.EventsExchange, routingKey: "",
                cancellationToken: cancellationToken);
        }

        if (owns(Topology.ReplayCommandsQueue))
        {
            await channel.QueueBindAsync(Topology.ReplayCommandsQueue, Topology.ReplayCommandsExchange, routingKey: "",
                cancellationToken: cancellationToken);
        }
    }

    /// <summary>The producer's: the events exchange (the live queues are their consumers').</summary>
    public static bool ProducerOwns(string name) => name == Topology.EventsExchange;

    /// <summary>A consumer's: the events exchange and its own queues.</summary>
    public static Func<string, bool> ConsumerOwns(string consumer) => name =>
        name == Topology.EventsExchange || name == Topology.LiveQueue(consumer) || name == Topology.ReplayQueue(consumer)
        || name == Topology.DeadLetterQueue(consumer);

    /// <summary>The replay service's: its queues and exchanges (the replay queues it sends batches to are their consumers').</summary>
    public static bool ReplayOwns(string name) => name.StartsWith("replay.", StringComparison.Ordinal);

    /// <summary>The monitor's: the dead-letter queues it collects and the replay events it watches.</summary>
    public static bool MonitorOwns(string name) =>
        name == Topology.ReplayEventsExchange || name == Topology.ReplayDeadLetterQueue
        || Topology.Consumers.Any(consumer => name == Topology.DeadLetterQueue(consumer));

    /// <summary>
    /// A queue's arguments for this queue type: for quorum, its type, one active consumer when <paramref name="ordered"/>,
    /// and, when <paramref name="deadLetters"/> is given, the delivery limit and at-least-once dead-lettering to it.
    /// </summary>
    public Dictionary<string, object?> Arguments(string? deadLetters, bool ordered)
    {
        if (type == QueueType.Classic)
        {
            return [];
        }

        var arguments = new Dictionary<string, object?> { ["x-queue-type"] = "quorum" };
        if (ordered)
        {
            arguments["x-single-active-consumer"] = true;
        }

        if (deadLetters is not null)
        {
            arguments["x-delivery-limit"] = DeliveryLimit;
            arguments["x-dead-letter-exchange"] = "";
            arguments["x-dead-letter-routing-key"] = deadLetters;
            // At-least-once dead-lettering (the message leaves this queue only once the dead-letter queue has it) needs
            // publishers to be refused rather than old messages dropped when a queue is full; no queue has a limit.
            arguments["x-dead-letter-strategy"] = "at-least-once";
            arguments["x-overflow"] = "reject-publish";
        }

        return arguments;
    }
}

/// <summary>The RabbitMQ queue type of every queue the system owns.</summary>
public enum QueueType
{
    Classic,
    Quorum,
}
