using System.Text;
using System.Text.Json.Nodes;
using EventReplay.Contracts;
using EventReplay.Hosting;
using RabbitMQ.Client;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>Direct access to the tests' RabbitMQ vhost: purge, send raw messages, read dead letters.</summary>
public static class Broker
{
    /// <summary>The system's topology with the queue type the tests' services get (see <see cref="TestEnvironment.QueueType"/>).</summary>
    public static BrokerTopology SystemTopology { get; } = new(TestEnvironment.QueueType);

    public static async Task PurgeAsync()
    {
        await using var connection = await ConnectAsync();
        await SystemTopology.DeclareAsync(connection, CancellationToken.None);
        await using var channel = await connection.CreateChannelAsync();
        foreach (var (queue, _) in SystemTopology.Queues())
        {
            await channel.QueuePurgeAsync(queue);
        }
    }

    /// <summary>
    /// Publishes one message, confirmed, as the system's own sender to that queue would (see <see cref="SenderOf"/>:
    /// as that broker user, its <c>user_id</c> set), unless <paramref name="as"/> names another user (with
    /// <see cref="BrokerAccounts.Administrator"/>, no <c>user_id</c> unless <paramref name="userId"/> gives one, which
    /// RabbitMQ accepts only when it is the connection's user).
    /// </summary>
    public static async Task SendAsync(string queue, string body, string? type = Topology.RecordedEventType,
        IDictionary<string, object?>? headers = null, string? userId = null, string? @as = null)
    {
        var sender = @as ?? SenderOf(queue);
        await using var connection = await ConnectAsync(sender);
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(true, true));
        var properties = new BasicProperties
        {
            Persistent = true, ContentType = "application/json", Type = type, Headers = headers,
            UserId = userId ?? UserIdOf(sender),
        };
        await channel.BasicPublishAsync("", queue, mandatory: true, properties, Encoding.UTF8.GetBytes(body));
    }

    /// <summary>
    /// The broker user that sends to <paramref name="queue"/> in the system: the producer to live queues, the replay
    /// service to replay queues (consumers take nothing else there); the administrator to any other.
    /// </summary>
    public static string SenderOf(string queue) =>
        Topology.Consumers.Any(consumer => queue == Topology.LiveQueue(consumer)) ? BrokerUsers.DefaultProducer
        : Topology.Consumers.Any(consumer => queue == Topology.ReplayQueue(consumer)) ? BrokerUsers.DefaultReplay
        : BrokerAccounts.Administrator;

    // A service's user sets user_id, as the service does; the administrator sends none unless asked.
    private static string? UserIdOf(string sender) => sender == BrokerAccounts.Administrator ? null : sender;

    /// <summary>Publishes many messages of one type on one channel, each confirmed, as <see cref="SendAsync"/> does.</summary>
    public static async Task SendManyAsync(string queue, IEnumerable<string> bodies, string? type)
    {
        var sender = SenderOf(queue);
        await using var connection = await ConnectAsync(sender);
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(true, true));
        var properties = new BasicProperties
        {
            Persistent = true, ContentType = "application/json", Type = type,
            UserId = UserIdOf(sender),
        };
        foreach (var body in bodies)
        {
            await channel.BasicPublishAsync("", queue, mandatory: true, properties, Encoding.UTF8.GetBytes(body));
        }
    }

    /// <summary>
    /// Takes every message now in a queue: body and the x-reason header. Reads with a consumer, not basic.get, which
    /// queues with a single active consumer refuse; the queue's own consumer must be stopped.
    /// </summary>
    public static async Task<List<(string Body, string? Reason)>> DrainAsync(string queue)
    {
        await using var connection = await ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        var taken = await TakeAsync(channel, queue);
        if (taken.Count > 0)
        {
            await channel.BasicAckAsync(taken[^1].Tag, multiple: true);
        }

        return [.. taken.Select(message => (Encoding.UTF8.GetString(message.Body),
            message.Properties.Headers?.TryGetValue("x-reason", out var value) == true && value is byte[] bytes
                ? Encoding.UTF8.GetString(bytes)
                : null))];
    }

    /// <summary>How many messages wait in a queue (not counting ones delivered and not yet acknowledged).</summary>
    public static async Task<uint> CountAsync(string queue)
    {
        await using var connection = await ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        return (await channel.QueueDeclarePassiveAsync(queue)).MessageCount;
    }

    /// <summary>Messages waiting in a queue (not counting unacknowledged ones) and consumers attached to it.</summary>
    public static async Task<(uint Messages, uint Consumers)> StateAsync(string queue)
    {
        await using var connection = await ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        var state = await channel.QueueDeclarePassiveAsync(queue);
        return (state.MessageCount, state.ConsumerCount);
    }

    /// <summary>
    /// Takes every message now in a live queue and puts back, in the same order and with the same properties, the events
    /// the filter keeps (a batch message without them, a message of one event not at all); returns how many events it
    /// removed: how a test makes a published event go missing before its consumer sees it. Reads with a consumer, not
    /// basic.get, which queues with a single active consumer refuse; the queue's own consumer must be stopped.
    /// </summary>
    public static async Task<int> RemoveEventsAsync(string queue, Func<string, long, bool> remove)
    {
        await using var connection = await ConnectAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(true, true));
        // Put back by the queue's own sender: their user_id is its user, which the broker checks against the connection.
        await using var senderConnection = await ConnectAsync(SenderOf(queue));
        await using var sender = await senderConnection.CreateChannelAsync(new CreateChannelOptions(true, true));
        var taken = await TakeAsync(channel, queue);
        var removed = 0;
        foreach (var (_, properties, body) in taken)
        {
            var message = JsonNode.Parse(body)!;
            bool Removed(JsonNode recorded) => remove(recorded["streamId"]!.GetValue<string>(), recorded["version"]!.GetValue<long>());
            if (properties.Type != Topology.ReplayBatchType)
            {
                if (Removed(message))
                {
                    removed++;
                    continue;
                }

                await sender.BasicPublishAsync("", queue, mandatory: true, properties, body);
                continue;
            }

            var events = message["events"]!.AsArray();
            removed += events.RemoveAll(recorded => Removed(recorded!));
            if (events.Count == 0)
            {
                continue;
            }

            properties.Headers = new Dictionary<string, object?>(properties.Headers ?? new Dictionary<string, object?>())
            {
                [Topology.EventCountHeader] = events.Count,
            };
            await sender.BasicPublishAsync("", queue, mandatory: true, properties, Encoding.UTF8.GetBytes(message.ToJsonString()));
        }

        if (taken.Count > 0)
        {
            await channel.BasicAckAsync(taken[^1].Tag, multiple: true);
        }

        return removed;
    }

    /// <summary>Every message waiting in a queue now, delivered to a consumer of this channel and not yet acknowledged.</summary>
    private static async Task<List<(ulong Tag, BasicProperties Properties, byte[] Body)>> TakeAsync(IChannel channel, string queue)
    {
        var waiting = (await channel.QueueDeclarePassiveAsync(queue)).MessageCount;
        var taken = new List<(ulong Tag, BasicProperties Properties, byte[] Body)>();
        if (waiting == 0)
        {
            return taken;
        }

        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var listener = new RabbitMQ.Client.Events.AsyncEventingBasicConsumer(channel);
        listener.ReceivedAsync += (_, message) =>
        {
            lock (taken)
            {
                taken.Add((message.DeliveryTag, new BasicProperties(message.BasicProperties), message.Body.ToArray()));
                if (taken.Count >= waiting)
                {
                    all.TrySetResult();
                }
            }

            return Task.CompletedTask;
        };
        var tag = await channel.BasicConsumeAsync(queue, autoAck: false, listener);
        await all.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await channel.BasicCancelAsync(tag);
        return taken;
    }

    /// <summary>A connection to the tests' vhost as <paramref name="user"/> (a service's user, or the administrator).</summary>
    public static Task<IConnection> ConnectAsync(string? user = null) =>
        new ConnectionFactory
        {
            Uri = new Uri(user is null || user == BrokerAccounts.Administrator
                ? TestEnvironment.RabbitMqConnectionString
                : BrokerAccounts.As(TestEnvironment.RabbitMqConnectionString, user)),
        }.CreateConnectionAsync();
}
