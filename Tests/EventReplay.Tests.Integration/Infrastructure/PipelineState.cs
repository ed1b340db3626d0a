using EventReplay.Contracts;
using Npgsql;
using StackExchange.Redis;

namespace EventReplay.Tests.Integration.Infrastructure;

public static class PipelineState
{
    /// <summary>
    /// Empties the consumers' side (read model, queues, cache) and rewinds the publisher, so the whole log is
    /// published again into a fresh read model: tests can then compare it with a fold of the log.
    /// </summary>
    public static async Task ResetAsync(SystemDatabases databases, string redis)
    {
        await ResetConsumersAsync(databases, redis);
    }

    /// <summary>
    /// Starts over with an empty log as well: the producer's schema and the replay history are dropped (the services
    /// create them again at start). For fixtures that write large histories, so no later fixture republishes them.
    /// </summary>
    public static async Task ResetWithEmptyLogAsync(SystemDatabases databases, string redis)
    {
        await Database.DropSchemaAsync(databases.EventStore, "producer");
        await Database.DropSchemaAsync(databases.ReadModels, "replay");
        await ResetConsumersAsync(databases, redis);
    }

    /// <summary>
    /// Where each stage stands (the log's head, the publisher's checkpoint, each consumer's checkpoint, the queues), for
    /// a failure message that says which stage stopped.
    /// </summary>
    public static async Task<string> DescribeAsync(SystemDatabases databases)
    {
        var parts = new List<string>
        {
            await ReadAsync("log head", () => Database.ScalarAsync(databases.EventStore, "select coalesce(max(seq_id), 0) from producer.mt_events")),
            await ReadAsync("published up to", () => Database.ScalarAsync(databases.EventStore, "select position from producer.publisher_checkpoint")),
        };
        foreach (var consumer in Topology.Consumers)
        {
            parts.Add(await ReadAsync($"{consumer} checkpoint",
                () => Database.ScalarAsync(databases.ReadModels, $"select position from {consumer}.checkpoint")));
            foreach (var queue in new[] { Topology.LiveQueue(consumer), Topology.ReplayQueue(consumer) })
            {
                parts.Add(await ReadAsync(queue, async () =>
                {
                    var (messages, consumers) = await Broker.StateAsync(queue);
                    return $"{messages} waiting, {consumers} consumers";
                }));
            }
        }

        return string.Join("; ", parts);
    }

    private static async Task<string> ReadAsync<T>(string what, Func<Task<T>> read)
    {
        try
        {
            return $"{what}: {await read()}";
        }
        catch (Exception exception)
        {
            return $"{what}: unknown ({exception.GetType().Name}: {exception.Message})";
        }
    }

    private static async Task ResetConsumersAsync(SystemDatabases databases, string redis)
    {
        await Database.DropSchemaAsync(databases.ReadModels, "balances");
        await Database.DropSchemaAsync(databases.ReadModels, "statistics");
        foreach (var leftover in new[] { "balances_rebuild", "balances_retired", "statistics_rebuild", "statistics_retired" })
        {
            await Database.DropSchemaAsync(databases.ReadModels, leftover);
        }

        await using (var connection = new NpgsqlConnection(databases.EventStore))
        {
            await connection.OpenAsync();
            await Database.ExecuteAsync(connection,
                "do $$ begin if to_regclass('producer.publisher_checkpoint') is not null then update producer.publisher_checkpoint set position = 0; end if; end $$");
        }

        await using (var connection = new NpgsqlConnection(databases.ReadModels))
        {
            // What the monitor collected of earlier tests' failures (its endpoints stay: they are every stack's processes).
            await connection.OpenAsync();
            await Database.ExecuteAsync(connection, """
                do $$ begin if to_regclass('monitor.retry_job_items') is not null then
                    truncate monitor.failed_messages, monitor.failed_message_collected, monitor.failed_message_history,
                        monitor.failed_message_edits, monitor.retry_jobs, monitor.retry_job_items;
                end if; end $$
                """);
        }

        await Broker.PurgeAsync();
        await using var cache = await ConnectionMultiplexer.ConnectAsync(redis + ",allowAdmin=true");
        var options = ConfigurationOptions.Parse(redis);
        await cache.GetServers()[0].FlushDatabaseAsync(options.DefaultDatabase ?? 0);
    }
}
