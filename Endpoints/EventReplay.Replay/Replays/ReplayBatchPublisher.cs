using System.Globalization;
using System.Text.Json;
using EventReplay.Contracts;
using EventReplay.Contracts.Replays;
using EventReplay.Hosting;
using RabbitMQ.Client;

namespace EventReplay.Replay.Replays;

/// <summary>
/// Sends replay batches (and rebuild controls) straight to a consumer's replay queue: persistent, confirmed by the broker before the saga
/// counts the batch as sent. One channel, reopened after a failure; batches are large, so Wolverine's outbox
/// (a row per message) would double the writes for nothing the saga's own retries do not already give.
/// </summary>
public sealed class ReplayBatchPublisher(IConnectionFactory rabbit, BrokerTopology topology, ILogger<ReplayBatchPublisher> logger) : IAsyncDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly SemaphoreSlim _gate = new(1, 1);
    private IConnection? _connection;
    private IChannel? _channel;

    /// <summary>
    /// Sends a read's batches (<see cref="ReplayBatch"/> JSON, from <see cref="ReplayBatchJson"/>) in order and waits for the broker to confirm them all: the confirms of a read are waited
    /// for together, not one round trip (and one broker disk write) per batch.
    /// </summary>
    public Task PublishAsync(string target, string replayId, IReadOnlyList<(int Sequence, ReadOnlyMemory<byte> Body)> batches,
        CancellationToken cancellationToken) =>
        PublishAsync(target, [.. batches.Select(batch => (Topology.ReplayBatchType,
            string.Create(CultureInfo.InvariantCulture, $"{replayId}/{batch.Sequence}"), batch.Body))], cancellationToken);

    /// <summary>Sends one message of the replay queue's kinds (<see cref="Topology.ReplayBatchType"/> and the rebuild controls).</summary>
    public Task PublishAsync<T>(string target, string type, string messageId, T message, CancellationToken cancellationToken) =>
        PublishAsync(target, [(type, messageId, (ReadOnlyMemory<byte>)JsonSerializer.SerializeToUtf8Bytes(message, Json))], cancellationToken);

    private async Task PublishAsync(string target, IReadOnlyList<(string Type, string MessageId, ReadOnlyMemory<byte> Body)> messages,
        CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var channel = await ChannelAsync(cancellationToken);
            try
            {
                // Started in order on one channel (so they arrive in order), confirmed together.
                await BrokerSafety.ConfirmedWithinTimeoutAsync(async deadline =>
                {
                    var confirms = messages.Select(message => channel.BasicPublishAsync("", Topology.ReplayQueue(target), mandatory: false,
                        new BasicProperties
                        {
                            Persistent = true,
                            ContentType = "application/json",
                            Type = message.Type,
                            MessageId = message.MessageId,
                            // Checked by the broker; consumers take batches and cut-overs from the replay service's user only.
                            UserId = rabbit.UserName,
                        }, message.Body, deadline).AsTask()).ToList();
                    await Task.WhenAll(confirms);
                }, cancellationToken);
            }
            catch
            {
                await ResetAsync();
                throw;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await ResetAsync();
        _gate.Dispose();
    }

    private async Task<IChannel> ChannelAsync(CancellationToken cancellationToken)
    {
        if (_channel is { IsOpen: true })
        {
            return _channel;
        }

        await ResetAsync();
        _connection = (await rabbit.CreateConnectionAsync(cancellationToken)).LogBlocking(logger, "the replay batch publisher");
        await topology.DeclareAsync(_connection, BrokerTopology.ReplayOwns, cancellationToken);
        _channel = await _connection.CreateChannelAsync(new CreateChannelOptions(true, true), cancellationToken);
        return _channel;
    }

    private async Task ResetAsync()
    {
        if (_channel is not null)
        {
            await _channel.DisposeAsync();
        }

        if (_connection is not null)
        {
            await _connection.DisposeAsync();
        }

        (_channel, _connection) = (null, null);
    }
}
