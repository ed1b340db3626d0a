using System.Globalization;
using System.IO.Hashing;
using System.Text;
using System.Text.Json;
using EventReplay.Contracts;
using EventReplay.Contracts.Replays;
using EventReplay.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using RabbitMQ.Client;

namespace EventReplay.Messaging;

/// <summary>
/// Heals gaps by itself: for every stream parked on a gap in the live copy, the consumer asks the replay service once
/// (a <c>StartReplay</c> on <c>replay.commands</c>), once the gap has stayed a couple of seconds, to redeliver that
/// stream; the version rule then applies the
/// missing versions and releases the parked ones. Requests are remembered in <c>{schema}.repairs</c>, so a stream
/// is asked for once per gap, also across restarts; one whose message the broker did not confirm is sent again (the
/// replay id names the gap, so the replay service starts it once however often it is asked).
/// </summary>
public sealed partial class GapRepair(string consumer, NpgsqlDataSource dataSource, IConnectionFactory rabbit, ILogger<GapRepair> logger)
{
    private const int MaxRequestsPerBatch = 100;

    // A gap often closes by itself a moment later (a reordered delivery); only one that stays is asked for.
    private const int GraceSeconds = 2;

    // A request whose StartReplay was never confirmed by the broker is sent again after this long.
    private const int ResendSeconds = 10;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public async Task RequestAsync(IChannel channel, string schema, CancellationToken cancellationToken)
    {
        try
        {
            await RequestOnceAsync(channel, schema, cancellationToken);
        }
        catch (Exception exception) when (DependencyFailure.IsDependencyDown(exception))
        {
            // Asked again when the queue is next idle.
            LogPostponed(consumer, exception.Message);
        }
    }

    private async Task RequestOnceAsync(IChannel channel, string schema, CancellationToken cancellationToken)
    {
        var requests = new List<(string Stream, long Version, string ReplayId)>();
        await using (var command = dataSource.CreateCommand(
            $"""
            with asked as (
                insert into {schema}.repairs (stream_id, waiting_version, replay_id, requested_at)
                select stream_id, min(version), '', now() from {schema}.parked
                where parked_at < now() - interval '{GraceSeconds} seconds' group by stream_id
                order by min(position) limit {MaxRequestsPerBatch}
                on conflict (stream_id, waiting_version) do nothing
                returning stream_id, waiting_version),
            unsent as (
                -- Asked before but never sent (the broker did not confirm): asked again.
                update {schema}.repairs set requested_at = now()
                where replay_id = '' and requested_at < now() - interval '{ResendSeconds} seconds'
                returning stream_id, waiting_version)
            select stream_id, waiting_version from asked
            union all
            select stream_id, waiting_version from unsent
            """))
        {
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var (stream, version) = (reader.GetString(0), reader.GetInt64(1));
                requests.Add((stream, version, ReplayId(stream, version)));
            }
        }

        foreach (var (stream, version, replayId) in requests)
        {
            var start = new
            {
                replayId,
                target = consumer,
                mode = ReplayModes.Redeliver,
                streamIds = new[] { stream },
                reason = $"Gap repair: version {version} of {stream} waits for an earlier version.",
                requestedBy = consumer,
            };
            var properties = new BasicProperties { Persistent = true, ContentType = "application/json", Type = "StartReplay", UserId = rabbit.UserName };
            var body = JsonSerializer.SerializeToUtf8Bytes(start, Json);
            await BrokerSafety.ConfirmedWithinTimeoutAsync(async deadline =>
                await channel.BasicPublishAsync("", Topology.ReplayCommandsQueue, mandatory: false, properties, body, deadline),
                cancellationToken);
            await using var note = dataSource.CreateCommand(
                $"update {schema}.repairs set replay_id = @replay where stream_id = @stream and waiting_version = @version");
            note.Parameters.AddWithValue("replay", replayId);
            note.Parameters.AddWithValue("stream", stream);
            note.Parameters.AddWithValue("version", version);
            await note.ExecuteNonQueryAsync(cancellationToken);
            LogRequested(consumer, stream, version, replayId);
        }
    }

    /// <summary>A replay id of the allowed shape that names the gap (the same gap, the same id).</summary>
    private string ReplayId(string stream, long version) =>
        string.Create(CultureInfo.InvariantCulture,
            $"repair-{consumer}-{XxHash64.HashToUInt64(Encoding.UTF8.GetBytes($"{stream}\n{version}")):x16}");

    [LoggerMessage(Level = LogLevel.Debug, Message = "Consumer {Consumer} postponed gap repair: {Reason}")]
    private partial void LogPostponed(string consumer, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Consumer {Consumer} asked for a redelivery of {StreamId} (version {Version} waits for an earlier one): replay {ReplayId}")]
    private partial void LogRequested(string consumer, string streamId, long version, string replayId);
}
