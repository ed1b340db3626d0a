using System.Text;
using System.Text.Json;
using EventReplay.Contracts;
using EventReplay.EventLog;
using EventReplay.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using RabbitMQ.Client;

namespace EventReplay.Messaging;

/// <summary>What the live queue does with events of an epoch (see <see cref="StoreEpochWatch.DecideAsync"/>).</summary>
public enum EpochDecision
{
    Apply,
    Drop,
}

/// <summary>
/// Keeps a consumer's live read model and the event store of the same epoch (<see cref="StoreEpoch"/>). Every two
/// seconds it compares the store's epoch with the live copy's: when they differ, the store went back in time under the
/// read model (a point-in-time restore), which then holds events the store no longer has, and would skip new events
/// that reuse their positions; the watch starts a zero-downtime rebuild of the read model (a <c>StartReplay</c> on
/// <c>replay.commands</c>, one per new epoch), whose cut-over gives the live copy the store's epoch. Meanwhile the
/// live queue holds events of the new epoch (they apply once the rebuilt copy is live) and drops events of an epoch
/// that is neither (published before the restore, of a history that is gone). A store whose head is behind the live
/// copy's checkpoint went back in time without a new epoch (restored by other means): the watch draws one.
/// A rebuild that ends without making the copy of the store's epoch live (refused while an operator's rebuild of the
/// same read model runs, failed, cancelled) is asked for again, under a new replay id, while the read model stays
/// behind: after <c>StoreEpoch:AskAgainSeconds</c> (default 30), then twice as long each time up to 10 minutes, so a long
/// rebuild still running is asked for again (and the request refused) only a few times.
/// It reports as a health check: degraded, with the reason, while a rebuild is due.
/// </summary>
public sealed partial class StoreEpochWatch(
    string consumer, ReadModelCopies copies, IEventBatchHandler handler, NpgsqlDataSource readModels, EventStoreSource eventStore,
    IConnectionFactory rabbit, IConfiguration configuration, TimeProvider clock, ILogger<StoreEpochWatch> logger) : BackgroundService, IHealthCheck
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(2);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly TimeSpan _askAgainAfter = TimeSpan.FromSeconds(configuration.GetValue("StoreEpoch:AskAgainSeconds", 30));

    private volatile StoreIdentity? _store;

    // The epoch a rebuild was last asked for, when, and how many times for that epoch.
    private (string Epoch, DateTimeOffset At, int Attempt)? _asked;

    /// <summary>True while the live copy holds events of another epoch than the store's (a rebuild is due or running).</summary>
    public bool Behind => _store is { } store && copies.LiveEpoch is { } live && live != store.Epoch;

    /// <summary>
    /// Whether events of <paramref name="epoch"/> apply to the live copy now: yes when it is the copy's (or the copy has
    /// none yet: it takes this one); when it is the store's epoch but not yet the copy's, this waits until the rebuilt
    /// copy is live; events of any other epoch are dropped.
    /// </summary>
    public async Task<EpochDecision> DecideAsync(string? epoch, CancellationToken cancellationToken)
    {
        while (true)
        {
            var live = copies.LiveEpoch;
            if (epoch is null || epoch == live)
            {
                return EpochDecision.Apply;
            }

            if (live is null)
            {
                await copies.AdoptEpochAsync(epoch, cancellationToken);
                continue;
            }

            // Read afresh: an epoch drawn a moment ago must not be taken for a stale one.
            var store = await StoreEpoch.ReadAsync(eventStore.DataSource, cancellationToken);
            _store = store;
            if (store?.Epoch != epoch)
            {
                LogDropped(consumer, epoch, store?.Epoch);
                return EpochDecision.Drop;
            }

            await AskForRebuildAsync(store, live, cancellationToken);
            await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken); // until the rebuild's cut-over
        }
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(Behind && _store is { } store
            ? HealthCheckResult.Degraded(
                $"The event store went back in time (epoch {store.Epoch} since {store.Since:O}: {store.Reason}); the read model "
                + $"holds events of epoch {copies.LiveEpoch} and is being rebuilt (replay {RebuildId(store.Epoch, _asked?.Attempt ?? 1)}).")
            : HealthCheckResult.Healthy($"Event store epoch {copies.LiveEpoch ?? "not seen yet"}."));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await CheckAsync(stoppingToken);
            }
            catch (Exception exception) when (DependencyFailure.IsDependencyDown(exception) || exception is RabbitMQ.Client.Exceptions.BrokerUnreachableException)
            {
                LogCheckFailed(exception, consumer); // the next tick tries again
            }
        }
    }

    private async Task CheckAsync(CancellationToken cancellationToken)
    {
        var store = await StoreEpoch.ReadAsync(eventStore.DataSource, cancellationToken);
        _store = store;
        if (store is null)
        {
            return;
        }

        var live = copies.LiveEpoch;
        if (live is null)
        {
            await copies.AdoptEpochAsync(store.Epoch, cancellationToken);
            return;
        }

        if (live != store.Epoch)
        {
            await AskForRebuildAsync(store, live, cancellationToken);
            return;
        }

        // Same epoch: the store must hold at least what the read model applied.
        long checkpoint;
        await using (var connection = await readModels.OpenConnectionAsync(cancellationToken))
        {
            checkpoint = await handler.CheckpointAsync(connection, copies.Live.Schema, cancellationToken);
        }

        var head = await StoreEpoch.HeadAsync(eventStore.DataSource, cancellationToken);
        if (head < checkpoint)
        {
            _store = await StoreEpoch.RenewAsync(eventStore.DataSource, store.Epoch,
                $"its head ({head}) was found behind the {consumer} read model's checkpoint ({checkpoint}): restored to an earlier point",
                cancellationToken);
            LogRenewed(consumer, head, checkpoint, _store?.Epoch);
        }
    }

    private async Task AskForRebuildAsync(StoreIdentity store, string live, CancellationToken cancellationToken)
    {
        var attempt = 1;
        if (_asked is { } asked && asked.Epoch == store.Epoch)
        {
            var wait = TimeSpan.FromTicks(Math.Min(_askAgainAfter.Ticks << Math.Min(asked.Attempt - 1, 16), TimeSpan.FromMinutes(10).Ticks));
            if (clock.GetUtcNow() - asked.At < wait)
            {
                return;
            }

            attempt = asked.Attempt + 1;
        }

        var replayId = RebuildId(store.Epoch, attempt);
        var command = new
        {
            replayId,
            target = consumer,
            mode = "rebuild",
            reason = Truncate($"The event store went back in time (epoch {live} -> {store.Epoch}, {store.Since:O}): {store.Reason}", 1000),
            requestedBy = $"{consumer} (automatic)",
        };
        await using var connection = await rabbit.CreateConnectionAsync(cancellationToken);
        await using var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), cancellationToken);
        // user_id: the broker checks it is this connection's user, and the replay service records it as the requester.
        var properties = new BasicProperties
        {
            Persistent = true, ContentType = "application/json", Type = "StartReplay", MessageId = replayId, UserId = rabbit.UserName,
        };
        await BrokerSafety.ConfirmedWithinTimeoutAsync(async deadline =>
            await channel.BasicPublishAsync("", Topology.ReplayCommandsQueue, mandatory: false, properties,
                JsonSerializer.SerializeToUtf8Bytes(command, Json), deadline), cancellationToken);
        _asked = (store.Epoch, clock.GetUtcNow(), attempt);
        LogRebuilding(consumer, live, store.Epoch, store.Reason, replayId);
    }

    // One rebuild per consumer, epoch and attempt: asked again for the same (a restart), the replay service answers with
    // the same replay, still running or ended; a later attempt is a new one.
    private string RebuildId(string epoch, int attempt) =>
        $"restore-{consumer}-{epoch.Replace("-", "", StringComparison.Ordinal)[..16]}{(attempt == 1 ? "" : $"-{attempt}")}";

    private static string Truncate(string text, int length) => text.Length <= length ? text : text[..length];

    [LoggerMessage(Level = LogLevel.Warning, Message = "Consumer {Consumer}: the event store went back in time (epoch {From} -> {To}: {Reason}); rebuilding the read model (replay {ReplayId})")]
    private partial void LogRebuilding(string consumer, string from, string to, string reason, string replayId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Consumer {Consumer}: the event store's head {Head} is behind the read model's checkpoint {Checkpoint}; drew the store a new epoch {Epoch}")]
    private partial void LogRenewed(string consumer, long head, long checkpoint, string? epoch);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Consumer {Consumer} dropped live events of epoch {Epoch}: the event store's is {StoreEpoch}, and the read model's another")]
    private partial void LogDropped(string consumer, string epoch, string? storeEpoch);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Consumer {Consumer} could not compare its epoch with the event store's now; trying again")]
    private partial void LogCheckFailed(Exception exception, string consumer);
}

/// <summary>Reads the store epoch an event message carries.</summary>
public static class EpochHeader
{
    public static string? Of(IDictionary<string, object?>? headers) =>
        headers is not null && headers.TryGetValue(StoreEpoch.Header, out var value)
            ? value switch
            {
                byte[] bytes => Encoding.UTF8.GetString(bytes),
                string text => text,
                _ => null,
            }
            : null;
}
