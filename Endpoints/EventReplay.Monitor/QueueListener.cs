using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace EventReplay.Monitor;

/// <summary>What to do with each message of one queue; a handler acknowledges what it is done with.</summary>
public sealed record QueueHandler(string Queue, Func<IChannel, BasicDeliverEventArgs, CancellationToken, Task> Handle);

/// <summary>
/// The monitor's listeners: one connection and channel, the queues declared, then each queue's handler for every
/// message until the channel closes or a handler throws (its message unacknowledged, so the broker gives it again). Either
/// way it throws, and the caller's <see cref="Hosting.Backoff"/> starts over on a new connection.
/// </summary>
public static class QueueListener
{
    public static async Task ListenAsync(IConnectionFactory rabbit, Func<IConnection, IChannel, CancellationToken, Task> declare, ushort prefetch,
        IReadOnlyList<QueueHandler> handlers, CancellationToken stoppingToken)
    {
        await using var connection = await rabbit.CreateConnectionAsync(stoppingToken);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: stoppingToken);
        await declare(connection, channel, stoppingToken);
        await channel.BasicQosAsync(0, prefetch, global: false, stoppingToken);

        var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        channel.ChannelShutdownAsync += (_, _) =>
        {
            stopped.TrySetException(new InvalidOperationException($"The channel of {string.Join(", ", handlers.Select(h => h.Queue))} closed."));
            return Task.CompletedTask;
        };
        foreach (var handler in handlers)
        {
            var listener = new AsyncEventingBasicConsumer(channel);
            listener.ReceivedAsync += async (_, message) =>
            {
                try
                {
                    await handler.Handle(channel, message, stoppingToken);
                }
                catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
                {
                    stopped.TrySetException(exception);
                }
            };
            await channel.BasicConsumeAsync(handler.Queue, autoAck: false, listener, stoppingToken);
        }

        await stopped.Task.WaitAsync(stoppingToken);
    }
}
