using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using EventReplay.Contracts;
using EventReplay.Contracts.Replays;
using EventReplay.EventLog;
using EventReplay.Hosting;
using EventReplay.Producer.EventLog;
using Npgsql;
using RabbitMQ.Client;

namespace EventReplay.Producer.Publishing;

/// <summary>
/// Publishes every committed event to RabbitMQ, in position order, at least once, from a checkpoint kept in
/// PostgreSQL. It reads the log through the same safe head as <c>GET /api/events</c>, so an append still in flight
/// is waited for rather than skipped (Marten's own forwarding passes over a gap once it is a few seconds old).
/// Each round's events leave as batch messages (the replay batch format, up to <see cref="EventsPerMessage"/> events
/// each), persistent and confirmed by the broker together before the checkpoint moves; the checkpoint is written at
/// most every 250 ms under load and whenever the log is idle. A crash in between only re-publishes, and consumers
/// drop what they have already applied. One producer instance publishes at a time: the
/// one whose session holds a PostgreSQL advisory lock. Every round reads the log and moves the checkpoint on that
/// session's own connection, so after a lost connection (a killed backend, the network) nothing is published beyond
/// the round under way: the next read fails, and the instance queues for the lock again. The others wait in that queue.
/// </summary>
public sealed partial class EventPublisher(
    NpgsqlDataSource dataSource, IConnectionFactory rabbit, BrokerTopology topology, PublishSignal signal, SchemaMode schema,
    ILogger<EventPublisher> logger) : BackgroundService
{
    public const int BatchSize = 500;

    /// <summary>Events per AMQP message: a batch message in the replay batch format (see <see cref="ReplayBatch"/>).</summary>
    public const int EventsPerMessage = 100;

    // Session-level advisory lock naming the publishing instance ("EVRPUBLI").
    private const long LeaderKey = 0x4556_5250_5542_4C49;

    // The wire format is the API's: camelCase JSON, the same RecordedEvent that GET /api/events returns.
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private static readonly TimeSpan IdlePoll = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan CheckpointInterval = TimeSpan.FromMilliseconds(250);

    // How long a standby waits in the lock's queue on one connection before it starts over on a fresh one.
    private static readonly TimeSpan StandbyWait = TimeSpan.FromSeconds(10);

    private bool _standingBy;

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Backoff.RunUntilStoppedAsync(RunAsLeaderAsync, (exception, delay) => LogFailed(exception, delay.TotalMilliseconds), stoppingToken);

    private async Task RunAsLeaderAsync(CancellationToken stoppingToken)
    {
        // The lock is this session's: each statement that succeeds on this connection shows it is still held.
        await using var leadership = await dataSource.OpenConnectionAsync(stoppingToken);
        if (!await LeadAsync(leadership, stoppingToken))
        {
            return;
        }

        await EnsureCheckpointAsync(leadership, stoppingToken);
        await using var connection = (await rabbit.CreateConnectionAsync(stoppingToken)).LogBlocking(logger, "the event publisher");
        await topology.DeclareAsync(connection, BrokerTopology.ProducerOwns, stoppingToken);
        await using var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true),
            stoppingToken);
        LogLeading();

        var checkpoint = await ReadCheckpointAsync(leadership, stoppingToken);
        var written = checkpoint;
        var lastWrite = Stopwatch.GetTimestamp();
        while (!stoppingToken.IsCancellationRequested)
        {
            // On the lock's connection: if it is gone, this fails and nothing of this round is published.
            var events = await EventLogReader.ReadTracedAsync(leadership, checkpoint, BatchSize, stoppingToken);
            // Read each round: a consumer that finds the store went back in time draws a new one while we run.
            var epoch = events is { Count: > 0 } ? (await StoreEpoch.ReadAsync(leadership, stoppingToken))?.Epoch : null;
            if (events is null || events.Count == 0)
            {
                if (written != checkpoint)
                {
                    await WriteCheckpointAsync(leadership, written = checkpoint, stoppingToken);
                }

                // Woken by the next commit of this instance; the poll finds those of other instances.
                await signal.WaitAsync(IdlePoll, stoppingToken);
                continue;
            }

            // Only what the synchronous standby holds too: an append whose COMMIT was cancelled while it waited for the
            // standby is visible here, yet a failover would lose it (see SynchronousStandby).
            await ConfirmOnStandbyAsync(leadership, events[^1].Event.Position, stoppingToken);

            // Batch messages of up to EventsPerMessage events, issued in order on one channel (so the queues receive them
            // in order), their confirms awaited together.
            await BrokerSafety.ConfirmedWithinTimeoutAsync(async deadline =>
            {
                var confirms = new List<ValueTask>();
                foreach (var message in events.Chunk(EventsPerMessage))
                {
                    using var activity = StartPublishActivity(message);
                    var batch = new ReplayBatch(Topology.LiveBatch, 0, Topology.LiveBatch, [.. message.Select(traced => traced.Event)]);
                    confirms.Add(channel.BasicPublishAsync(Topology.EventsExchange, routingKey: "", mandatory: false,
                        Properties(message, activity?.Id ?? message.Select(traced => traced.TraceParent).FirstOrDefault(t => t is not null),
                            epoch, rabbit.UserName),
                        JsonSerializer.SerializeToUtf8Bytes(batch, Json), deadline));
                }

                foreach (var confirm in confirms)
                {
                    await confirm;
                }
            }, stoppingToken);

            checkpoint = events[^1].Event.Position;
            LogPublished(events.Count, checkpoint);
            // At most a few times a second under load: a crash in between only publishes those events again.
            if (Stopwatch.GetElapsedTime(lastWrite) >= CheckpointInterval)
            {
                await WriteCheckpointAsync(leadership, written = checkpoint, stoppingToken);
                lastWrite = Stopwatch.GetTimestamp();
            }
        }
    }

    private static async Task ConfirmOnStandbyAsync(NpgsqlConnection leadership, long position, CancellationToken stoppingToken)
    {
        try
        {
            await SynchronousStandby.BarrierAsync(leadership, transaction: null, stoppingToken);
        }
        catch (Exception exception) when (exception is NpgsqlException or TimeoutException)
        {
            throw new TimeoutException($"Events up to position {position} are not confirmed by a synchronous standby yet; not published.", exception);
        }
    }

    // user_id: the broker checks it is this connection's user, and consumers take live events from the producer's only.
    private static BasicProperties Properties(TracedEvent[] message, string? traceParent, string? epoch, string userId) => new()
    {
        UserId = userId,
        Persistent = true,
        ContentType = "application/json",
        Type = Topology.ReplayBatchType,
        MessageId = string.Create(CultureInfo.InvariantCulture, $"{message[0].Event.Position}-{message[^1].Event.Position}"),
        Timestamp = new AmqpTimestamp(message[^1].Event.Timestamp.ToUnixTimeSeconds()),
        Headers = Headers(traceParent, epoch, message.Length),
    };

    private static Dictionary<string, object?> Headers(string? traceParent, string? epoch, int events)
    {
        var headers = new Dictionary<string, object?> { [Topology.EventCountHeader] = events };
        if (traceParent is not null)
        {
            headers[Telemetry.TraceParent] = traceParent;
        }

        if (epoch is not null)
        {
            headers[StoreEpoch.Header] = epoch;
        }

        return headers;
    }

    /// <summary>
    /// A publish span in the trace of the first request of the message that was traced, linked to the others' traces
    /// (a message carries the events of many requests; links are how a span belongs to more than one trace).
    /// </summary>
    private static Activity? StartPublishActivity(TracedEvent[] message)
    {
        var activity = Telemetry.StartForMany($"{Topology.EventsExchange} publish", ActivityKind.Producer,
            message.Select(traced => traced.TraceParent));
        activity?.SetTag("messaging.system", "rabbitmq");
        activity?.SetTag("messaging.operation.type", "send");
        activity?.SetTag("messaging.destination.name", Topology.EventsExchange);
        activity?.SetTag("messaging.batch.message_count", message.Length);
        return activity;
    }

    /// <summary>
    /// Takes the lock, or waits for it in PostgreSQL's queue so that a standby takes over the moment the publishing
    /// instance's session ends; false when <see cref="StandbyWait"/> passed without it.
    /// </summary>
    private async Task<bool> LeadAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using (var attempt = new NpgsqlCommand("select pg_try_advisory_lock(@key)", connection))
        {
            attempt.Parameters.AddWithValue("key", LeaderKey);
            if ((bool)(await attempt.ExecuteScalarAsync(cancellationToken))!)
            {
                _standingBy = false;
                return true;
            }
        }

        if (!_standingBy)
        {
            _standingBy = true;
            LogStandingBy();
        }

        // The wait is bounded on the server (lock_timeout, local to this transaction); the session lock outlives it.
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var wait = new NpgsqlCommand("select set_config('lock_timeout', @timeout, true); select pg_advisory_lock(@key)",
            connection, transaction)
        {
            CommandTimeout = (int)(StandbyWait + TimeSpan.FromSeconds(5)).TotalSeconds,
        };
        wait.Parameters.AddWithValue("timeout", $"{StandbyWait.TotalMilliseconds:0}ms");
        wait.Parameters.AddWithValue("key", LeaderKey);
        try
        {
            await wait.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (PostgresException exception) when (exception.SqlState == PostgresErrorCodes.LockNotAvailable)
        {
            return false;
        }

        await transaction.CommitAsync(cancellationToken);
        _standingBy = false;
        return true;
    }

    /// <summary>The publisher's tables: its checkpoint and the store's epoch (part of the producer's schema step).</summary>
    public const string TablesSql = $"""
        create table if not exists {EventLogReader.Schema}.publisher_checkpoint (
            id int primary key check (id = 1), position bigint not null, updated_at timestamptz not null);
        {StoreEpoch.TableSql}
        """;

    private const string SeedSql = $"""
        insert into {EventLogReader.Schema}.publisher_checkpoint values (1, 0, now()) on conflict (id) do nothing;
        {StoreEpoch.SeedSql}
        """;

    // The first rows; the tables too where this process makes its schema (a test may have dropped it since the start).
    private async Task EnsureCheckpointAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(schema.Changes() ? TablesSql + SeedSql : SeedSql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<long> ReadCheckpointAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand($"select position from {EventLogReader.Schema}.publisher_checkpoint", connection);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static async Task WriteCheckpointAsync(NpgsqlConnection connection, long position, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            $"update {EventLogReader.Schema}.publisher_checkpoint set position = @position, updated_at = now()", connection);
        command.Parameters.AddWithValue("position", position);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Publishing committed events to RabbitMQ from this instance")]
    private partial void LogLeading();

    [LoggerMessage(Level = LogLevel.Information, Message = "Standing by: another producer instance publishes committed events")]
    private partial void LogStandingBy();

    [LoggerMessage(Level = LogLevel.Debug, Message = "Published {Count} events up to position {Position}")]
    private partial void LogPublished(int count, long position);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Publishing stopped; retrying in {DelayMs} ms")]
    private partial void LogFailed(Exception exception, double delayMs);
}
