using System.Text.Json;
using EventReplay.Contracts.Monitoring;
using Npgsql;
using NpgsqlTypes;

namespace EventReplay.Monitor.Endpoints;

/// <summary>One process of the system as the monitor last heard from it.</summary>
public sealed record EndpointInstance(string Endpoint, string InstanceId, string Host, int Pid, string Version, DateTimeOffset StartedAt,
    DateTimeOffset LastSeenAt, DateTimeOffset? StoppedAt, IReadOnlyList<HeartbeatCheck> Checks)
{
    /// <summary><c>stopped</c> once it said goodbye, <c>missing</c> when not heard from for <see cref="Heartbeat.MissingAfter"/>, else <c>alive</c>.</summary>
    public string StatusAt(DateTimeOffset now) =>
        StoppedAt is not null ? EndpointStatus.Stopped
        : now - LastSeenAt > Heartbeat.MissingAfter ? EndpointStatus.Missing
        : EndpointStatus.Alive;
}

public static class EndpointStatus
{
    public const string Alive = "alive";
    public const string Missing = "missing";
    public const string Stopped = "stopped";
}

/// <summary>The instances heard from (table <c>monitor.endpoint_instances</c>); one not heard from for a day is forgotten.</summary>
public sealed class EndpointStore(NpgsqlDataSource dataSource)
{
    public static readonly TimeSpan Forget = TimeSpan.FromDays(1);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public async Task EnsureSchemaAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            create schema if not exists monitor;
            create table if not exists monitor.endpoint_instances (
                instance_id text primary key, endpoint text not null, host text not null, pid int not null, version text not null,
                started_at timestamptz not null, last_seen_at timestamptz not null, stopped_at timestamptz, checks jsonb not null);
            """);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Records a heartbeat seen at <paramref name="seenAt"/>. Heartbeats may come out of order: the newest wins, and a
    /// goodbye stays said.
    /// </summary>
    public async Task RecordAsync(Heartbeat heartbeat, DateTimeOffset seenAt, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            insert into monitor.endpoint_instances as i
                (instance_id, endpoint, host, pid, version, started_at, last_seen_at, stopped_at, checks)
            values (@instance, @endpoint, @host, @pid, @version, @started, @seen, case when @stopping then @seen end, @checks)
            on conflict (instance_id) do update set
                last_seen_at = greatest(i.last_seen_at, excluded.last_seen_at),
                stopped_at = coalesce(i.stopped_at, excluded.stopped_at),
                checks = case when excluded.last_seen_at >= i.last_seen_at and not @stopping then excluded.checks else i.checks end
            """);
        command.Parameters.AddWithValue("instance", heartbeat.InstanceId);
        command.Parameters.AddWithValue("endpoint", heartbeat.Endpoint);
        command.Parameters.AddWithValue("host", heartbeat.Host);
        command.Parameters.AddWithValue("pid", heartbeat.Pid);
        command.Parameters.AddWithValue("version", heartbeat.Version);
        command.Parameters.AddWithValue("started", heartbeat.StartedAt);
        command.Parameters.AddWithValue("seen", seenAt);
        command.Parameters.AddWithValue("stopping", heartbeat.Stopping);
        command.Parameters.Add(new NpgsqlParameter("checks", NpgsqlDbType.Jsonb) { Value = JsonSerializer.Serialize(heartbeat.Checks, Json) });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<EndpointInstance>> ListAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            select endpoint, instance_id, host, pid, version, started_at, last_seen_at, stopped_at, checks::text
            from monitor.endpoint_instances order by endpoint, started_at, instance_id
            """);
        var instances = new List<EndpointInstance>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            instances.Add(new EndpointInstance(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt32(3),
                reader.GetString(4), reader.GetFieldValue<DateTimeOffset>(5), reader.GetFieldValue<DateTimeOffset>(6),
                reader.IsDBNull(7) ? null : reader.GetFieldValue<DateTimeOffset>(7),
                JsonSerializer.Deserialize<List<HeartbeatCheck>>(reader.GetString(8), Json) ?? []));
        }

        return instances;
    }

    /// <summary>Forgets the instances not heard from since <paramref name="before"/>.</summary>
    public async Task<int> ForgetAsync(DateTimeOffset before, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("delete from monitor.endpoint_instances where last_seen_at < @before");
        command.Parameters.AddWithValue("before", before);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
