using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace EventReplay.Hosting;

/// <summary>
/// A publisher's own RabbitMQ connection and channel with publisher confirms, opened when first needed and again after
/// it broke: <see cref="PublishAsync"/> awaits the broker's confirm (or the timeout) and, when a publish fails, closes
/// both so that the next one starts on fresh ones. Publishes are serialised (a channel is not for concurrent use).
/// </summary>
public sealed partial class ConfirmedChannel(IConnectionFactory rabbit, string purpose, ILogger logger,
    Func<IChannel, CancellationToken, Task>? declare = null) : IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    private IConnection? _connection;

    private IChannel? _channel;

    /// <summary>Whether the channel is open now (it was opened and did not break since).</summary>
    public bool IsOpen => _channel is { IsOpen: true };

    /// <summary>One publish, its confirm awaited within <paramref name="timeout"/>; throws when it was not confirmed.</summary>
    public Task PublishAsync(string exchange, string routingKey, bool mandatory, BasicProperties properties, ReadOnlyMemory<byte> body,
        CancellationToken cancellationToken, TimeSpan timeout) =>
        WithChannelAsync(channel => BrokerSafety.ConfirmedWithinTimeoutAsync(async deadline =>
            await channel.BasicPublishAsync(exchange, routingKey, mandatory, properties, body, deadline), cancellationToken, timeout),
            cancellationToken);

    /// <summary>
    /// Runs <paramref name="publish"/> on the channel alone; when it throws, the connection is closed (the next call
    /// opens a new one) and the exception goes on.
    /// </summary>
    public async Task WithChannelAsync(Func<IChannel, Task> publish, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var channel = await OpenAsync(cancellationToken);
            try
            {
                await publish(channel);
            }
            catch
            {
                await CloseAsync();
                throw;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<IChannel> OpenAsync(CancellationToken cancellationToken)
    {
        if (_channel is { IsOpen: true } open)
        {
            return open;
        }

        await CloseAsync();
        _connection = await rabbit.CreateConnectionAsync(cancellationToken);
        _channel = await _connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), cancellationToken);
        if (declare is not null)
        {
            await declare(_channel, cancellationToken);
        }

        return _channel;
    }

    /// <summary>Closes the channel and its connection; the next publish opens new ones.</summary>
    public async Task CloseAsync()
    {
        try
        {
            if (_channel is not null)
            {
                await _channel.DisposeAsync();
            }

            if (_connection is not null)
            {
                await _connection.DisposeAsync();
            }
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            LogCloseFailed(exception, purpose); // a connection that was already gone
        }

        _channel = null;
        _connection = null;
    }

    public async ValueTask DisposeAsync()
    {
        await CloseAsync();
        _gate.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Closing the connection for {Purpose} failed")]
    private partial void LogCloseFailed(Exception exception, string purpose);
}
