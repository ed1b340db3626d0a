using System.Text;
using EventReplay.Contracts;
using RabbitMQ.Client;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>Direct access to the tests' RabbitMQ vhost: purge, send raw messages, read dead letters.</summary>
public static class Broker
{
    public static async Task PurgeAsync()
    {
        await using var connection = await ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        await channel.ExchangeDeclareAsync(Topology.EventsExchange, ExchangeType.Fanout, durable: true);
        foreach (var consumer in Topology.Consumers)
        {
            foreach (var queue in new[] { Topology.LiveQueue(consumer), Topology.DeadLetterQueue(consumer), Topology.ReplayQueue(consumer) })
            {
                await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
                await channel.QueuePurgeAsync(queue);
            }
        }

        foreach (var queue in new[] { Topology.ReplayCommandsQueue, Topology.ReplayAcksQueue })
        {
            await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
            await channel.QueuePurgeAsync(queue);
        }
    }

    public static async Task SendAsync(string queue, string body, string? type = Topology.RecordedEventType)
    {
        await using var connection = await ConnectAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(true, true));
        var properties = new BasicProperties { Persistent = true, ContentType = "application/json", Type = type };
        await channel.BasicPublishAsync("", queue, mandatory: true, properties, Encoding.UTF8.GetBytes(body));
    }

    /// <summary>Takes every message now in a queue: body and the x-reason header.</summary>
    public static async Task<List<(string Body, string? Reason)>> DrainAsync(string queue)
    {
        await using var connection = await ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        var messages = new List<(string, string?)>();
        while (await channel.BasicGetAsync(queue, autoAck: true) is { } message)
        {
            var reason = message.BasicProperties.Headers?.TryGetValue("x-reason", out var value) == true && value is byte[] bytes
                ? Encoding.UTF8.GetString(bytes)
                : null;
            messages.Add((Encoding.UTF8.GetString(message.Body.Span), reason));
        }

        return messages;
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
    /// Takes every message now in a queue and puts back, in the same order and with the same properties, those the
    /// filter keeps: how a test makes a published message go missing before its consumer sees it.
    /// </summary>
    public static async Task<int> RemoveAsync(string queue, Func<string, bool> remove)
    {
        await using var connection = await ConnectAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(true, true));
        var kept = new List<(BasicProperties Properties, byte[] Body)>();
        var removed = 0;
        while (await channel.BasicGetAsync(queue, autoAck: true) is { } message)
        {
            if (remove(Encoding.UTF8.GetString(message.Body.Span)))
            {
                removed++;
                continue;
            }

            kept.Add((new BasicProperties(message.BasicProperties), message.Body.ToArray()));
        }

        foreach (var (properties, body) in kept)
        {
            await channel.BasicPublishAsync("", queue, mandatory: true, properties, body);
        }

        return removed;
    }

    private static Task<IConnection> ConnectAsync() =>
        new ConnectionFactory { Uri = new Uri(TestEnvironment.RabbitMqConnectionString) }.CreateConnectionAsync();
}
