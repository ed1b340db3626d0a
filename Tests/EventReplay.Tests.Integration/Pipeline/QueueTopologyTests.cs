using System.Text;
using EventReplay.Hosting;
using EventReplay.Tests.Integration.Infrastructure;
using RabbitMQ.Client;

namespace EventReplay.Tests.Integration.Pipeline;

/// <summary>What the broker itself does with the queues we declare.</summary>
public class QueueTopologyTests
{
    [Test]
    public async Task A_quorum_queue_dead_letters_a_message_that_keeps_coming_back_after_the_delivery_limit()
    {
        var queue = $"test-poison-{Guid.NewGuid():N}";
        var dead = queue + ".dead";
        var topology = new BrokerTopology(QueueType.Quorum);
        await using var connection = await new ConnectionFactory { Uri = new Uri(TestEnvironment.RabbitMqConnectionString) }.CreateConnectionAsync();
        await using (var setup = await connection.CreateChannelAsync(new CreateChannelOptions(true, true)))
        {
            await setup.QueueDeclareAsync(dead, durable: true, exclusive: false, autoDelete: false, topology.Arguments(null, ordered: false));
            await setup.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, topology.Arguments(dead, ordered: false));
            await setup.BasicPublishAsync("", queue, mandatory: true, new BasicProperties { Persistent = true }, Encoding.UTF8.GetBytes("poison"));
        }

        try
        {
            // A consumer that takes the message and dies before acknowledging it, again and again.
            var deliveries = 0;
            while (true)
            {
                await using var channel = await connection.CreateChannelAsync();
                if (await channel.BasicGetAsync(queue, autoAck: false) is null)
                {
                    break;
                }

                deliveries++;
                Assert.That(deliveries, Is.LessThanOrEqualTo(BrokerTopology.DeliveryLimit + 1), "the broker keeps redelivering");
                await channel.CloseAsync();
            }

            await using var reader = await connection.CreateChannelAsync();
            var deadLetter = await Eventually.Until(() => reader.BasicGetAsync(dead, autoAck: true), message => message is not null,
                TimeSpan.FromSeconds(10), "the message in the dead-letter queue");
            Assert.Multiple(() =>
            {
                Assert.That(deliveries, Is.EqualTo(BrokerTopology.DeliveryLimit + 1));
                Assert.That(Encoding.UTF8.GetString(deadLetter!.Body.Span), Is.EqualTo("poison"));
                Assert.That(Encoding.UTF8.GetString((byte[])deadLetter.BasicProperties.Headers!["x-first-death-reason"]!), Is.EqualTo("delivery_limit"));
            });
        }
        finally
        {
            await using var cleanup = await connection.CreateChannelAsync();
            await cleanup.QueueDeleteAsync(queue);
            await cleanup.QueueDeleteAsync(dead);
        }
    }
}
