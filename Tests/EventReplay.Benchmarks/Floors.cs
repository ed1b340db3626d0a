using System.Diagnostics;
using EventReplay.Consumers.Balances.Balances;
using EventReplay.Consumers.Balances.Live;
using EventReplay.Contracts;
using EventReplay.EventLog;
using EventReplay.Hosting;
using EventReplay.Messaging;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using StackExchange.Redis;

namespace EventReplay.Benchmarks;

/// <summary>
/// The two yardsticks of a replay, run in this process over the same events table: the balances consumer's own
/// batch apply fed straight from the table (no broker, no saga), and one SQL aggregate plus a pipelined Redis load.
/// Like the system, each reads the event store and writes into the read models' database (its own schema there) and
/// a Redis generation of its own, so neither touches the system's read model.
/// </summary>
public static class Floors
{
    public const string ApplySchema = "bench_apply";

    public const string FloorSchema = "bench_floor";

    // Cache generations far above any the system reaches in a benchmark: the keys are the consumer's own format.
    private const int ApplyGeneration = 900_001;

    private const int FloorGeneration = 900_002;

    /// <summary>
    /// Pages of <paramref name="batchSize"/> events read in position order and applied with the consumer's
    /// <see cref="BalanceStore.ApplyAsync"/> (one transaction with its checkpoint) and the same Redis writes;
    /// <paramref name="done"/> is called when the last page is applied, before the connections close.
    /// </summary>
    public static async Task<(long Events, TimeSpan Elapsed)> ApplyAsync(string eventStore, string readModels, string redis, int batchSize,
        Action done)
    {
        await using var events = NpgsqlDataSource.Create(eventStore);
        await using var dataSource = NpgsqlDataSource.Create(readModels);
        await DropSchemaAsync(dataSource, ApplySchema);
        await using var multiplexer = await ConnectionMultiplexer.ConnectAsync(redis);
        await DeleteGenerationAsync(multiplexer, ApplyGeneration);
        var copies = new ReadModelCopies(ApplySchema, dataSource, new EventStoreSource(events), multiplexer,
            NullLogger<ReadModelCopies>.Instance);
        var cache = new BalanceCache(new VersionedCache(multiplexer, NullLogger<VersionedCache>.Instance), copies);
        var handler = new BalancesHandler(new BalanceStore(dataSource), cache, copies, new ConfigurationBuilder().Build());
        await copies.StartAsync(handler, CancellationToken.None, ApplyGeneration);

        var clock = Stopwatch.StartNew();
        long after = 0, applied = 0;
        while (true)
        {
            var page = await ReadPageAsync(events, after, batchSize);
            if (page.Count == 0)
            {
                var elapsed = clock.Elapsed;
                done();
                return (applied, elapsed);
            }

            await handler.ApplyAsync(page, copies.Live, CancellationToken.None);
            applied += page.Count;
            after = page[^1].Position;
        }
    }

    /// <summary>
    /// The balances table from one <c>SELECT … GROUP BY</c> over the event store, copied into the read models' database
    /// (binary <c>COPY</c>) and into Redis, pipelined, as its rows arrive.
    /// </summary>
    public static async Task<(long Events, TimeSpan Elapsed)> SqlAsync(string eventStore, string readModels, string redis, Action done)
    {
        await using var store = NpgsqlDataSource.Create(eventStore);
        await using var dataSource = NpgsqlDataSource.Create(readModels);
        await DropSchemaAsync(dataSource, FloorSchema);
        await using (var create = dataSource.CreateCommand(
            $"create schema {FloorSchema}; create table {FloorSchema}.accounts (like {BalanceStore.Schema}.accounts including all)"))
        {
            await create.ExecuteNonQueryAsync();
        }

        await using var multiplexer = await ConnectionMultiplexer.ConnectAsync(redis);
        await DeleteGenerationAsync(multiplexer, FloorGeneration);
        await using var count = store.CreateCommand($"select count(*) from {EventTable.Name} where type <> '{EventTable.Tombstone}'");
        var events = (long)(await count.ExecuteScalarAsync())!;

        var clock = Stopwatch.StartNew();
        var database = multiplexer.GetDatabase();
        var batch = database.CreateBatch();
        var writes = new List<Task>();
        await using (var fold = store.CreateCommand(
            $"""
            select stream_id,
                   max(data ->> 'owner') filter (where type = 'AccountOpened'),
                   sum(case type when 'FundsDeposited' then (data ->> 'amount')::numeric
                                 when 'FundsWithdrawn' then -(data ->> 'amount')::numeric else 0 end),
                   case when bool_or(type = 'AccountClosed') then 'closed' else 'open' end,
                   max(version), max(seq_id), max(timestamp)
            from {EventTable.Name} where type <> '{EventTable.Tombstone}'
            group by stream_id
            """))
        await using (var connection = await dataSource.OpenConnectionAsync())
        {
            fold.CommandTimeout = 600;
            await using var reader = await fold.ExecuteReaderAsync();
            await using var copy = await connection.BeginBinaryImportAsync(
                $"copy {FloorSchema}.accounts (account_id, owner, balance, status, version, position, updated_at) from stdin (format binary)");
            while (await reader.ReadAsync())
            {
                var row = new AccountBalance(reader.GetString(0), reader.GetString(1), reader.GetDecimal(2), reader.GetString(3),
                    reader.GetInt64(4), reader.GetInt64(5), reader.GetFieldValue<DateTimeOffset>(6));
                await copy.WriteRowAsync(CancellationToken.None, row.AccountId, row.Owner, row.Balance, row.Status, row.Version, row.Position,
                    row.UpdatedAt);
                writes.Add(batch.HashSetAsync(BalanceCache.Key(FloorGeneration, row.AccountId),
                    [new HashEntry("version", row.Version), new HashEntry("value", System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(row))]));
            }

            await copy.CompleteAsync();
        }

        batch.Execute();
        await Task.WhenAll(writes);
        var elapsed = clock.Elapsed;
        done();
        return (events, elapsed);
    }

    private static async Task<List<RecordedEvent>> ReadPageAsync(NpgsqlDataSource dataSource, long after, int limit)
    {
        await using var command = dataSource.CreateCommand(
            $"select {EventTable.Columns} from {EventTable.Name} where seq_id > @after and type <> '{EventTable.Tombstone}' order by seq_id limit @limit");
        command.Parameters.AddWithValue("after", after);
        command.Parameters.AddWithValue("limit", limit);
        var page = new List<RecordedEvent>(limit);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            page.Add(EventTable.Map(reader));
        }

        return page;
    }

    private static async Task DropSchemaAsync(NpgsqlDataSource dataSource, string schema)
    {
        await using var drop = dataSource.CreateCommand($"drop schema if exists {schema} cascade");
        await drop.ExecuteNonQueryAsync();
    }

    private static async Task DeleteGenerationAsync(ConnectionMultiplexer multiplexer, int generation)
    {
        var database = multiplexer.GetDatabase();
        foreach (var server in multiplexer.GetServers())
        {
            var keys = new List<RedisKey>();
            await foreach (var key in server.KeysAsync(database.Database, $"balances:v{generation}:*", pageSize: 1000))
            {
                keys.Add(key);
            }

            foreach (var chunk in keys.Chunk(1000))
            {
                await database.KeyDeleteAsync(chunk);
            }
        }
    }
}
