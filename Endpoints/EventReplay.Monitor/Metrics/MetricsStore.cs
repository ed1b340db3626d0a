using System.Text.Json;
using Npgsql;
using NpgsqlTypes;

namespace EventReplay.Monitor.Metrics;

/// <summary>One queue as RabbitMQ's management API reports it.</summary>
public sealed record QueueSample(
    string Queue, long Length, long Ready, long Unacknowledged, int Consumers, double InPerSecond, double OutPerSecond);

/// <summary>A consumer's lag: the event store's head, its checkpoint, and the events between them.</summary>
public sealed record LagSample(string Consumer, long Head, long Checkpoint)
{
    public long Lag => Math.Max(0, Head - Checkpoint);
}

/// <summary>One point of an endpoint's series: its figures (summed over its instances), its lag and its live queue's length.</summary>
public sealed record MetricPoint(DateTimeOffset At, IReadOnlyDictionary<string, double> Values);

/// <summary>
/// Samples every 5 s, kept 24 h (schema <c>monitor</c>): queues (<c>queue_samples</c>), consumers' lag
/// (<c>lag_samples</c>) and the figures consumers send with their heartbeats (<c>endpoint_samples</c>).
/// </summary>
public sealed class MetricsStore(NpgsqlDataSource dataSource)
{
    public static readonly TimeSpan Keep = TimeSpan.FromHours(24);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public async Task EnsureSchemaAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            create schema if not exists monitor;
            create table if not exists monitor.queue_samples (
                at timestamptz not null, queue text not null, length bigint not null, ready bigint not null, unacknowledged bigint not null,
                consumers int not null, in_rate double precision not null, out_rate double precision not null, primary key (queue, at));
            create index if not exists queue_samples_at on monitor.queue_samples (at);
            create table if not exists monitor.lag_samples (
                at timestamptz not null, consumer text not null, head bigint not null, checkpoint bigint not null, primary key (consumer, at));
            create index if not exists lag_samples_at on monitor.lag_samples (at);
            create table if not exists monitor.endpoint_samples (
                at timestamptz not null, endpoint text not null, instance_id text not null, metrics jsonb not null,
                primary key (endpoint, instance_id, at));
            create index if not exists endpoint_samples_at on monitor.endpoint_samples (at);
            """);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task RecordAsync(DateTimeOffset at, IReadOnlyList<QueueSample> queues, IReadOnlyList<LagSample> lags,
        CancellationToken cancellationToken)
    {
        await using var batch = dataSource.CreateBatch();
        foreach (var queue in queues)
        {
            var command = new NpgsqlBatchCommand("""
                insert into monitor.queue_samples (at, queue, length, ready, unacknowledged, consumers, in_rate, out_rate)
                values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict do nothing
                """);
            command.Parameters.Add(new NpgsqlParameter { Value = at });
            command.Parameters.Add(new NpgsqlParameter { Value = queue.Queue });
            command.Parameters.Add(new NpgsqlParameter { Value = queue.Length });
            command.Parameters.Add(new NpgsqlParameter { Value = queue.Ready });
            command.Parameters.Add(new NpgsqlParameter { Value = queue.Unacknowledged });
            command.Parameters.Add(new NpgsqlParameter { Value = queue.Consumers });
            command.Parameters.Add(new NpgsqlParameter { Value = queue.InPerSecond });
            command.Parameters.Add(new NpgsqlParameter { Value = queue.OutPerSecond });
            batch.BatchCommands.Add(command);
        }

        foreach (var lag in lags)
        {
            var command = new NpgsqlBatchCommand(
                "insert into monitor.lag_samples (at, consumer, head, checkpoint) values ($1, $2, $3, $4) on conflict do nothing");
            command.Parameters.Add(new NpgsqlParameter { Value = at });
            command.Parameters.Add(new NpgsqlParameter { Value = lag.Consumer });
            command.Parameters.Add(new NpgsqlParameter { Value = lag.Head });
            command.Parameters.Add(new NpgsqlParameter { Value = lag.Checkpoint });
            batch.BatchCommands.Add(command);
        }

        if (batch.BatchCommands.Count > 0)
        {
            await batch.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    public async Task RecordEndpointAsync(DateTimeOffset at, string endpoint, string instanceId, IReadOnlyDictionary<string, double> metrics,
        CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            insert into monitor.endpoint_samples (at, endpoint, instance_id, metrics) values (@at, @endpoint, @instance, @metrics)
            on conflict do nothing
            """);
        command.Parameters.AddWithValue("at", at);
        command.Parameters.AddWithValue("endpoint", endpoint);
        command.Parameters.AddWithValue("instance", instanceId);
        command.Parameters.Add(new NpgsqlParameter("metrics", NpgsqlDbType.Jsonb) { Value = JsonSerializer.Serialize(metrics, Json) });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The latest sample of every queue, and of every consumer's lag (none older than a minute).</summary>
    public async Task<(IReadOnlyList<(DateTimeOffset At, QueueSample Queue)> Queues, IReadOnlyList<(DateTimeOffset At, LagSample Lag)> Lags)>
        CurrentAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var queues = new List<(DateTimeOffset, QueueSample)>();
        await using (var command = dataSource.CreateCommand("""
            select distinct on (queue) at, queue, length, ready, unacknowledged, consumers, in_rate, out_rate
            from monitor.queue_samples where at > @since order by queue, at desc
            """))
        {
            command.Parameters.AddWithValue("since", now - TimeSpan.FromMinutes(1));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                queues.Add((reader.GetFieldValue<DateTimeOffset>(0), new QueueSample(reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3),
                    reader.GetInt64(4), reader.GetInt32(5), reader.GetDouble(6), reader.GetDouble(7))));
            }
        }

        var lags = new List<(DateTimeOffset, LagSample)>();
        await using (var command = dataSource.CreateCommand("""
            select distinct on (consumer) at, consumer, head, checkpoint from monitor.lag_samples where at > @since order by consumer, at desc
            """))
        {
            command.Parameters.AddWithValue("since", now - TimeSpan.FromMinutes(1));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                lags.Add((reader.GetFieldValue<DateTimeOffset>(0), new LagSample(reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3))));
            }
        }

        return (queues, lags);
    }

    /// <summary>
    /// An endpoint's series since <paramref name="since"/>: per 5-s step, its heartbeat figures summed over its instances
    /// (averages averaged), its lag and its live queue (for a consumer), and the queues named after it.
    /// </summary>
    public async Task<IReadOnlyList<MetricPoint>> SeriesAsync(string endpoint, DateTimeOffset since, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            with steps as (
                select to_timestamp(floor(extract(epoch from at) / 5) * 5) as at, key, value::double precision as value
                from monitor.endpoint_samples, jsonb_each_text(metrics)
                where endpoint = @endpoint and at >= @since),
            figures as (
                select at, key, case when key in ('eventsApplied', 'eventsPerSecond') then sum(value) when key like '%Max' then max(value)
                    else avg(value) end as value
                from steps group by at, key),
            lag as (
                select to_timestamp(floor(extract(epoch from at) / 5) * 5) as at, 'lagEvents' as key,
                    max(greatest(head - checkpoint, 0))::double precision as value
                from monitor.lag_samples where consumer = @endpoint and at >= @since group by 1),
            queue as (
                select to_timestamp(floor(extract(epoch from at) / 5) * 5) as at, 'queueLength' as key, max(length)::double precision as value
                from monitor.queue_samples where queue = @endpoint || '.live' and at >= @since group by 1)
            select at, key, value from (select * from figures union all select * from lag union all select * from queue) all_figures
            order by at, key
            """);
        command.Parameters.AddWithValue("endpoint", endpoint);
        command.Parameters.AddWithValue("since", since);
        var points = new SortedDictionary<DateTimeOffset, Dictionary<string, double>>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var at = reader.GetFieldValue<DateTimeOffset>(0);
            if (!points.TryGetValue(at, out var values))
            {
                points[at] = values = [];
            }

            values[reader.GetString(1)] = Math.Round(reader.GetDouble(2), 3);
        }

        return [.. points.Select(point => new MetricPoint(point.Key, point.Value))];
    }

    /// <summary>Each queue's lengths and each consumer's lags since <paramref name="since"/>, oldest first (for sparklines).</summary>
    public async Task<(IReadOnlyDictionary<string, IReadOnlyList<double>> Queues, IReadOnlyDictionary<string, IReadOnlyList<double>> Lags)>
        HistoryAsync(DateTimeOffset since, CancellationToken cancellationToken)
    {
        async Task<IReadOnlyDictionary<string, IReadOnlyList<double>>> ReadAsync(string sql)
        {
            await using var command = dataSource.CreateCommand(sql);
            command.Parameters.AddWithValue("since", since);
            var series = new Dictionary<string, List<double>>();
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var name = reader.GetString(0);
                if (!series.TryGetValue(name, out var values))
                {
                    series[name] = values = [];
                }

                values.Add(reader.GetInt64(1));
            }

            return series.ToDictionary(pair => pair.Key, pair => (IReadOnlyList<double>)pair.Value);
        }

        return (await ReadAsync("select queue, length from monitor.queue_samples where at >= @since order by queue, at"),
            await ReadAsync("select consumer, greatest(head - checkpoint, 0) from monitor.lag_samples where at >= @since order by consumer, at"));
    }

    /// <summary>Whether anything was ever heard of the endpoint (its heartbeats, or samples named after it).</summary>
    public async Task<bool> KnownAsync(string endpoint, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            select exists (select 1 from monitor.endpoint_instances where endpoint = @endpoint)
                or exists (select 1 from monitor.lag_samples where consumer = @endpoint)
                or exists (select 1 from monitor.endpoint_samples where endpoint = @endpoint)
            """);
        command.Parameters.AddWithValue("endpoint", endpoint);
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    public async Task PurgeAsync(DateTimeOffset before, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            delete from monitor.queue_samples where at < @before;
            delete from monitor.lag_samples where at < @before;
            delete from monitor.endpoint_samples where at < @before;
            """);
        command.Parameters.AddWithValue("before", before);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
