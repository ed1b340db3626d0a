using EventReplay.Contracts;
using EventReplay.Hosting;
using Npgsql;

namespace EventReplay.Monitor.FailedMessages;

/// <summary>How the monitor treats failed messages (<c>Monitoring:FailedMessages</c>).</summary>
public sealed class FailedMessageOptions
{
    /// <summary>An event parked (waiting for an earlier version) longer than this is a failed message.</summary>
    public TimeSpan ParkedAfter { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>A retry neither applied nor set aside again within this is unresolved again (it can be retried).</summary>
    public TimeSpan RetryOutcomeWindow { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Archived messages are deleted this long after they were archived.</summary>
    public TimeSpan ArchiveRetention { get; set; } = TimeSpan.FromDays(14);

    /// <summary>How often the tables are looked at: the replay service's dead letters, parked events, retries' outcomes.</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How often archived messages past their retention are looked for.</summary>
    public TimeSpan PurgeInterval { get; set; } = TimeSpan.FromMinutes(1);
}

/// <summary>
/// What the monitor collects from tables rather than queues, every <see cref="FailedMessageOptions.SweepInterval"/>:
/// the replay service's dead letters (recorded, then deleted from its table: a crash between the two records one again,
/// which the store takes as the same failure), events parked
/// longer than <see cref="FailedMessageOptions.ParkedAfter"/> (resolved once they leave the parked table), retries the
/// replay service handled (resolved), retries with no outcome in time (unresolved again), and archived messages past
/// their retention (deleted).
/// </summary>
public sealed partial class FailedMessageSweeper(FailedMessageStore store, Microsoft.Extensions.Options.IOptions<FailedMessageOptions> options,
    Alerts.AlertNotifier alerts, TimeProvider clock, ILogger<FailedMessageSweeper> logger) : BackgroundService
{
    private const string ReplaySchema = "replay";

    private DateTimeOffset _purged = DateTimeOffset.MinValue;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.SweepInterval, clock);
        var failing = false;
        do
        {
            try
            {
                await SweepAsync(stoppingToken);
                failing = false;
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                if (!failing)
                {
                    LogFailed(exception);
                }

                failing = true;
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    public async Task SweepAsync(CancellationToken cancellationToken)
    {
        await ImportReplayDeadLettersAsync(cancellationToken);
        foreach (var consumer in Topology.Consumers)
        {
            await ImportParkedAsync(consumer, cancellationToken);
        }

        await ResolveReplayRetriesAsync(cancellationToken);
        await store.ExpireRetriesAsync(options.Value.RetryOutcomeWindow, cancellationToken);
        var now = clock.GetUtcNow();
        if (now - _purged >= options.Value.PurgeInterval)
        {
            _purged = now;
            if (await store.PurgeArchivedAsync(now - options.Value.ArchiveRetention, cancellationToken) is > 0 and var purged)
            {
                LogPurged(purged, options.Value.ArchiveRetention.TotalDays);
            }
        }
    }

    private async Task<bool> ExistsAsync(string table, CancellationToken cancellationToken)
    {
        await using var command = store.DataSource.CreateCommand("select to_regclass(@table) is not null");
        command.Parameters.AddWithValue("table", table);
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>The replay service's dead letters, each recorded in the store and then deleted from its table.</summary>
    private async Task ImportReplayDeadLettersAsync(CancellationToken cancellationToken)
    {
        if (!await ExistsAsync($"{ReplaySchema}.wolverine_dead_letters", cancellationToken))
        {
            return;
        }

        await using var read = store.DataSource.CreateCommand($"""
            select id, body, message_type, source, exception_type, exception_message, coalesce(failed_at, sent_at)
            from {ReplaySchema}.wolverine_dead_letters order by failed_at limit 500
            """);
        var letters = new List<(Guid Id, CollectedFailure Failure)>();
        await using (var reader = await read.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var id = reader.GetGuid(0);
                var type = reader.GetString(2);
                var source = reader.IsDBNull(3) ? null : reader.GetString(3);
                var exceptionType = reader.IsDBNull(4) ? "Exception" : reader.GetString(4);
                var reason = $"{exceptionType.Split('.')[^1]}: {(reader.IsDBNull(5) ? "" : reader.GetString(5))}";
                // The queue it came in on, from the framework's address of it (rabbitmq://queue/replay.commands).
                var queue = source?.Split('/')[^1] is { Length: > 0 } name && name.StartsWith(ReplaySchema + ".", StringComparison.Ordinal)
                    ? name : Topology.ReplayCommandsQueue;
                var failedAt = reader.IsDBNull(6) ? clock.GetUtcNow() : reader.GetFieldValue<DateTimeOffset>(6);
                var message = ReplayDeadLetter.Open(reader.GetFieldValue<byte[]>(1), type);
                letters.Add((id, new CollectedFailure($"wolverine:{id}", FailureSource.ReplayService, queue, $"{ReplaySchema}.wolverine_dead_letters",
                    "replay", message.MessageType, reason, message.Body, message.ContentType, message.Headers, failedAt, id)));
            }
        }

        foreach (var (id, failure) in letters)
        {
            if (await store.RecordAsync(failure, cancellationToken))
            {
                alerts.FailedMessage(failure);
            }

            await using var delete = store.DataSource.CreateCommand($"delete from {ReplaySchema}.wolverine_dead_letters where id = @id");
            delete.Parameters.AddWithValue("id", id);
            await delete.ExecuteNonQueryAsync(cancellationToken);
            LogCollected(failure.Queue, failure.Reason);
        }
    }

    /// <summary>Events parked too long become failed messages; those that left the parked table are resolved.</summary>
    private async Task ImportParkedAsync(string consumer, CancellationToken cancellationToken)
    {
        if (!await ExistsAsync($"{consumer}.parked", cancellationToken))
        {
            return;
        }

        await using var read = store.DataSource.CreateCommand($"""
            select p.stream_id, p.version, p.position, p.type, p.occurred_at, p.data::text, p.reason, p.parked_at
            from {consumer}.parked p
            where p.parked_at < @before and not exists (
                select 1 from monitor.failed_message_collected c where c.source_key = 'parked:{consumer}:' || p.stream_id || ':' || p.version)
            order by p.position limit 500
            """);
        read.Parameters.AddWithValue("before", clock.GetUtcNow() - options.Value.ParkedAfter);
        var parked = new List<CollectedFailure>();
        await using (var reader = await read.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var recorded = new RecordedEvent(reader.GetInt64(2), reader.GetString(0), reader.GetInt64(1), reader.GetString(3),
                    reader.GetFieldValue<DateTimeOffset>(4), System.Text.Json.JsonElement.Parse(reader.GetString(5)));
                var parkedAt = reader.GetFieldValue<DateTimeOffset>(7);
                parked.Add(new CollectedFailure($"parked:{consumer}:{recorded.StreamId}:{recorded.Version}", FailureSource.Parked,
                    Topology.LiveQueue(consumer), $"{consumer}.parked", consumer, Topology.RecordedEventType,
                    $"Parked since {parkedAt:u}: {reader.GetString(6)}", System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(recorded, StrictJson.Options),
                    "application/json", new Dictionary<string, string>(), parkedAt, null));
            }
        }

        foreach (var failure in parked)
        {
            if (await store.RecordAsync(failure, cancellationToken))
            {
                LogCollected(failure.Queue, failure.Reason);
                alerts.FailedMessage(failure);
            }
        }

        await using var resolve = store.DataSource.CreateCommand($"""
            with left_park as (
                update monitor.failed_messages f set status = 'resolved', status_changed_at = now()
                where f.source = 'parked' and f.endpoint = @consumer and f.status in ('unresolved', 'retrying')
                    and not exists (select 1 from {consumer}.parked p where p.stream_id = f.stream_id and p.version = f.version)
                returning f.id)
            insert into monitor.failed_message_history (failed_message_id, at, action, detail)
            select id, now(), 'resolved', 'no longer parked: applied once the gap before it was filled' from left_park
            """);
        resolve.Parameters.AddWithValue("consumer", consumer);
        await resolve.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Retries sent to the replay service's queues are resolved once its framework recorded them handled.</summary>
    private async Task ResolveReplayRetriesAsync(CancellationToken cancellationToken)
    {
        if (!await ExistsAsync($"{ReplaySchema}.wolverine_incoming_envelopes", cancellationToken))
        {
            return;
        }

        await using var resolve = store.DataSource.CreateCommand($"""
            with handled as (
                update monitor.failed_messages f set status = 'resolved', status_changed_at = now()
                where f.status = 'retrying' and f.queue like 'replay.%' and exists (
                    select 1 from {ReplaySchema}.wolverine_incoming_envelopes e where e.id = f.retry_message_id and e.status = 'Handled')
                returning f.id)
            insert into monitor.failed_message_history (failed_message_id, at, action, detail)
            select id, now(), 'resolved', 'handled by the replay service' from handled
            """);
        await resolve.ExecuteNonQueryAsync(cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A message set aside for {Queue}: {Reason}")]
    private partial void LogCollected(string queue, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deleted {Count} archived failed messages older than {Days} days")]
    private partial void LogPurged(int count, double days);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Looking for failed messages in the tables failed; trying again")]
    private partial void LogFailed(Exception exception);
}
