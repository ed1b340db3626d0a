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

    private static Task<IConnection> ConnectAsync() =>
        new ConnectionFactory { Uri = new Uri(TestEnvironment.RabbitMqConnectionString) }.CreateConnectionAsync();
}
