using System.Collections.Concurrent;
using EventReplay.Contracts;
using EventReplay.EventLog;
using EventReplay.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using StackExchange.Redis;

namespace EventReplay.Messaging;

/// <summary>One copy of a read model: its PostgreSQL schema and the generation in its Redis keys.</summary>
public sealed record ReadModelCopy(string Schema, int Generation);

/// <summary>
/// A batch being applied to a copy, as found under the copy's apply lock: the copy (its generation read from the
/// copy's own meta row, so a cut-over that happened while the batch waited for the lock is seen) and the number of
/// this apply within the copy, which the rows it changes are stamped with.
/// </summary>
public sealed record CopyApply(ReadModelCopy Copy, long Seq);

/// <summary>
/// A consumer's copies of its read model, for rebuilds with zero downtime. The live copy (schema named after the
/// consumer) serves reads and takes live events the whole time; a rebuild fills a fresh copy (schema
/// <c>{consumer}_rebuild</c>, the next Redis generation) from replay batches; the cut-over holds live batches (the
/// apply lock), applies the rest of the log to the fresh copy, and swaps the schemas in one transaction, so a reader
/// sees the old copy or the complete new one, never a mix, and never an older version. The old copy is dropped after.
/// <para>
/// Cache writes follow the commit, so a crash or a Redis outage in between would leave the cache behind PostgreSQL.
/// Each apply is therefore numbered and recorded in the copy's <c>cache_pending</c> table in its own transaction;
/// a confirmed cache write lets the next apply forget it, and whatever stays (a failed write, a crash) is written
/// again from PostgreSQL by <see cref="RepairCacheAsync"/>, when idle and after a start.
/// </para>
/// </summary>
public sealed partial class ReadModelCopies(string consumer, NpgsqlDataSource dataSource, EventStoreSource eventStore,
    IConnectionMultiplexer redis, ILogger<ReadModelCopies> logger)
{
    private const int TailPage = 5_000;

    private volatile ReadModelCopy _live = new(consumer, 1);

    // The event store's epoch the live copy's events came from (null until the first is known): see StoreEpoch.
    private volatile string? _liveEpoch;

    // The fresh copy last found or made, so a rebuild's batches do not look it up in the database each time.
    private (string ReplayId, ReadModelCopy Copy)? _shadow;

    // Applies whose cache write was confirmed, by generation, not yet forgotten in that copy's cache_pending table.
    private readonly ConcurrentDictionary<int, ConcurrentQueue<long>> _cached = new();

    // Set at start (a crash may have left applies whose cache write never happened) and by every failed cache write.
    private volatile bool _cacheRepairDue = true;

    public string Consumer => consumer;

    public string ShadowSchema => consumer + "_rebuild";

    /// <summary>The copy that serves reads and takes live events.</summary>
    public ReadModelCopy Live => _live;

    /// <summary>The event store's epoch the live copy holds events of; null before it has seen one.</summary>
    public string? LiveEpoch => _liveEpoch;

    /// <summary>Creates the live copy if missing (its cache generation starting at <paramref name="firstGeneration"/>) and learns its generation.</summary>
    public async Task StartAsync(IEventBatchHandler handler, CancellationToken cancellationToken, int firstGeneration = 1)
    {
        await handler.EnsureSchemaAsync(consumer, cancellationToken);
        _live = new ReadModelCopy(consumer, await EnsureMetaAsync(consumer, firstGeneration, null, cancellationToken));
        await using var read = dataSource.CreateCommand($"select store_epoch from {consumer}.meta");
        _liveEpoch = await read.ExecuteScalarAsync(cancellationToken) as string;
    }

    /// <summary>The live copy's first epoch: the one of the first events it meets (or of the store, seen first).</summary>
    public async Task AdoptEpochAsync(string epoch, CancellationToken cancellationToken)
    {
        await using var adopt = dataSource.CreateCommand(
            $"update {consumer}.meta set store_epoch = coalesce(store_epoch, @epoch) returning store_epoch");
        adopt.Parameters.AddWithValue("epoch", epoch);
        _liveEpoch = await adopt.ExecuteScalarAsync(cancellationToken) as string;
    }

    /// <summary>The fresh copy a rebuild writes to, created on its first batch (a copy left by another rebuild is dropped).</summary>
    public async Task<ReadModelCopy> ShadowAsync(string replayId, IEventBatchHandler handler, CancellationToken cancellationToken)
    {
        if (_shadow is { } known && known.ReplayId == replayId)
        {
            return known.Copy;
        }

        _shadow = null;
        if (await ShadowOwnerAsync(cancellationToken) is { } owner)
        {
            if (owner.ReplayId == replayId)
            {
                _shadow = (replayId, new ReadModelCopy(ShadowSchema, owner.Generation));
                return _shadow.Value.Copy;
            }

            await DropAsync(ShadowSchema, owner.Generation, cancellationToken);
        }

        // The meta row is written last: a schema without one is what a crash part-way through this left, and is made again.
        await using (var create = dataSource.CreateCommand($"drop schema if exists {ShadowSchema} cascade; create schema {ShadowSchema}"))
        {
            await create.ExecuteNonQueryAsync(cancellationToken);
        }

        await handler.EnsureSchemaAsync(ShadowSchema, cancellationToken);
        var generation = Live.Generation + 1;
        await EnsureMetaAsync(ShadowSchema, generation, replayId, cancellationToken);
        await DeleteGenerationAsync(generation);
        LogShadowCreated(consumer, replayId, ShadowSchema, generation);
        _shadow = (replayId, new ReadModelCopy(ShadowSchema, generation));
        return _shadow.Value.Copy;
    }

    /// <summary>
    /// Makes the fresh copy of <paramref name="replayId"/> the live one; returns the position it is complete up to.
    /// Idempotent: asked again after it happened (a redelivered request), it answers the same without doing anything.
    /// </summary>
    public async Task<long> CutOverAsync(string replayId, IEventBatchHandler handler, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // Live batches wait from here until the swap commits.
        await ApplyLock.AcquireAsync(connection, transaction, consumer, cancellationToken);
        var live = await MetaAsync(connection, consumer, cancellationToken);
        if (live?.ReplayId == replayId)
        {
            return await handler.CheckpointAsync(connection, consumer, cancellationToken);
        }

        var shadow = await MetaAsync(connection, ShadowSchema, cancellationToken);
        if (shadow?.ReplayId != replayId)
        {
            throw new InvalidOperationException($"There is no fresh copy of {consumer} built by replay {replayId}.");
        }

        var copy = new ReadModelCopy(ShadowSchema, shadow.Generation);
        var liveCheckpoint = await handler.CheckpointAsync(connection, consumer, cancellationToken);
        var shadowCheckpoint = await handler.CheckpointAsync(connection, ShadowSchema, cancellationToken);
        var tail = 0;
        for (var after = shadowCheckpoint; after < liveCheckpoint;)
        {
            var events = await ReadLogAsync(after, liveCheckpoint, cancellationToken);
            if (events.Count == 0)
            {
                break;
            }

            await handler.ApplyAsync(events, copy, cancellationToken);
            tail += events.Count;
            after = events[^1].Position;
        }

        // The fresh copy was built from the store as it is now: it holds the store's current epoch (after a restore, the
        // one that made the old copy wrong).
        var epoch = (await StoreEpoch.ReadAsync(eventStore.DataSource, cancellationToken))?.Epoch;
        var retired = $"{consumer}_retired";
        await using (var swap = new NpgsqlCommand(
            $"""
            update {ShadowSchema}.meta set store_epoch = @epoch;
            drop schema if exists {retired} cascade;
            alter schema {consumer} rename to {retired};
            alter schema {ShadowSchema} rename to {consumer};
            """, connection, transaction))
        {
            swap.Parameters.AddWithValue("epoch", (object?)epoch ?? DBNull.Value);
            await swap.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        _shadow = null;
        _liveEpoch = epoch;
        var old = Live.Generation;
        _live = new ReadModelCopy(consumer, copy.Generation);
        LogCutOver(consumer, replayId, Math.Max(liveCheckpoint, shadowCheckpoint), tail, copy.Generation);
        await DropAsync(retired, old, cancellationToken);
        return Math.Max(liveCheckpoint, shadowCheckpoint);
    }

    /// <summary>
    /// Starts applying a batch to a copy, in the caller's transaction: takes the copy's apply lock, then reads the
    /// copy's generation (the one its cache writes must use, whatever cut-over happened while waiting), numbers the
    /// apply and records it as not yet cached; forgets the applies whose cache write was confirmed since.
    /// </summary>
    public async Task<CopyApply> BeginApplyAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, ReadModelCopy expected,
        CancellationToken cancellationToken)
    {
        var schema = expected.Schema;
        var cached = Drain(expected.Generation);
        await using var command = new NpgsqlCommand(
            $"""
            {ApplyLock.Sql};
            delete from {schema}.cache_pending where seq = any(@cached) and (select generation from {schema}.meta) = @generation;
            insert into {schema}.cache_pending (seq) select apply_seq + 1 from {schema}.meta;
            update {schema}.meta set apply_seq = apply_seq + 1 returning generation, apply_seq;
            """, connection, transaction);
        ApplyLock.AddParameters(command, schema);
        command.Parameters.Add(new NpgsqlParameter<long[]>("cached", cached));
        command.Parameters.AddWithValue("generation", expected.Generation);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (reader.FieldCount != 2 || !await reader.ReadAsync(cancellationToken))
        {
            if (!await reader.NextResultAsync(cancellationToken))
            {
                throw new InvalidOperationException($"The meta row of {schema} is missing.");
            }
        }

        var apply = new CopyApply(new ReadModelCopy(schema, reader.GetInt32(0)), reader.GetInt64(1));
        if (apply.Copy.Generation != expected.Generation)
        {
            Requeue(expected.Generation, cached);
        }

        return apply;
    }

    /// <summary>After an apply committed: its rows are in the cache (or the cache is off), so the next apply may forget it.</summary>
    public void CacheWritten(CopyApply apply) => _cached.GetOrAdd(apply.Copy.Generation, _ => new ConcurrentQueue<long>()).Enqueue(apply.Seq);

    /// <summary>After an apply committed: its cache write failed; it stays recorded and the next repair writes its rows.</summary>
    public void CacheWriteFailed() => _cacheRepairDue = true;

    /// <summary>
    /// Writes again, from the live copy, the cache entries of every apply still recorded as not cached (after a start
    /// or a failed write), and forgets the confirmed ones. Runs under the copy's apply lock so no cut-over interleaves;
    /// the cache calls are short-timed.
    /// </summary>
    public async Task RepairCacheAsync(IEventBatchHandler handler, CancellationToken cancellationToken)
    {
        var live = Live;
        var cached = Drain(live.Generation);
        if (!_cacheRepairDue && cached.Length == 0)
        {
            return;
        }

        var forget = $"delete from {consumer}.cache_pending where seq = any(@cached) and (select generation from {consumer}.meta) = @generation";
        if (!_cacheRepairDue)
        {
            // Only confirmations to forget: no need to wait for the apply lock (the generation guards against a swap).
            await using var command = dataSource.CreateCommand(forget);
            command.Parameters.Add(new NpgsqlParameter<long[]>("cached", cached));
            command.Parameters.AddWithValue("generation", live.Generation);
            await command.ExecuteNonQueryAsync(cancellationToken);
            return;
        }

        _cacheRepairDue = false; // a write that fails from here on sets it again
        try
        {
            await RepairCacheUnderLockAsync(handler, live, cached, forget, cancellationToken);
        }
        catch
        {
            _cacheRepairDue = true;
            throw;
        }
    }

    private async Task RepairCacheUnderLockAsync(IEventBatchHandler handler, ReadModelCopy live, long[] cached, string forget,
        CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await ApplyLock.AcquireAsync(connection, transaction, consumer, cancellationToken);
        var pending = new List<long>();
        int generation;
        await using (var command = new NpgsqlCommand(
            $"""
            {forget};
            select generation, array(select seq from {consumer}.cache_pending order by seq) from {consumer}.meta;
            """, connection, transaction))
        {
            command.Parameters.Add(new NpgsqlParameter<long[]>("cached", cached));
            command.Parameters.AddWithValue("generation", live.Generation);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            generation = reader.GetInt32(0);
            pending.AddRange(reader.GetFieldValue<long[]>(1));
        }

        if (pending.Count > 0)
        {
            var copy = new ReadModelCopy(consumer, generation);
            if (await handler.RecacheAsync(connection, copy, [.. pending], cancellationToken))
            {
                await using var done = new NpgsqlCommand($"delete from {consumer}.cache_pending where seq = any(@pending)", connection, transaction);
                done.Parameters.Add(new NpgsqlParameter<long[]>("pending", [.. pending]));
                await done.ExecuteNonQueryAsync(cancellationToken);
                LogCacheRepaired(consumer, pending.Count, generation);
            }
            else
            {
                _cacheRepairDue = true;
            }
        }

        await transaction.CommitAsync(cancellationToken);
    }

    private long[] Drain(int generation)
    {
        if (!_cached.TryGetValue(generation, out var queue))
        {
            return [];
        }

        var seqs = new List<long>();
        while (queue.TryDequeue(out var seq))
        {
            seqs.Add(seq);
        }

        // Confirmations of copies older than the one before this are of copies that are gone.
        foreach (var old in _cached.Keys.Where(key => key < generation - 1))
        {
            _cached.TryRemove(old, out _);
        }

        return [.. seqs];
    }

    private void Requeue(int generation, long[] seqs)
    {
        var queue = _cached.GetOrAdd(generation, _ => new ConcurrentQueue<long>());
        foreach (var seq in seqs)
        {
            queue.Enqueue(seq);
        }
    }

    /// <summary>Drops the fresh copy of a cancelled rebuild; the live copy is not touched.</summary>
    public async Task AbandonAsync(string replayId, CancellationToken cancellationToken)
    {
        if (await ShadowOwnerAsync(cancellationToken) is { } owner && owner.ReplayId == replayId)
        {
            _shadow = null;
            await DropAsync(ShadowSchema, owner.Generation, cancellationToken);
            LogAbandoned(consumer, replayId);
        }
    }

    private sealed record Meta(int Generation, string? ReplayId);

    private async Task<Meta?> ShadowOwnerAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await MetaAsync(connection, ShadowSchema, cancellationToken);
    }

    private static async Task<Meta?> MetaAsync(NpgsqlConnection connection, string schema, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            $"select to_regclass('{schema}.meta') is not null", connection);
        if (!(bool)(await command.ExecuteScalarAsync(cancellationToken))!)
        {
            return null;
        }

        await using var read = new NpgsqlCommand($"select generation, replay_id from {schema}.meta", connection);
        await using var reader = await read.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new Meta(reader.GetInt32(0), reader.IsDBNull(1) ? null : reader.GetString(1))
            : null;
    }

    private async Task<int> EnsureMetaAsync(string schema, int generation, string? replayId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"""
            create table if not exists {schema}.meta (
                id int primary key check (id = 1), generation int not null, replay_id text);
            alter table {schema}.meta add column if not exists apply_seq bigint not null default 0;
            alter table {schema}.meta add column if not exists store_epoch text;
            create table if not exists {schema}.cache_pending (seq bigint primary key);
            insert into {schema}.meta (id, generation, replay_id) values (1, @generation, @replay) on conflict (id) do nothing;
            select generation from {schema}.meta;
            """);
        command.Parameters.AddWithValue("generation", generation);
        command.Parameters.AddWithValue("replay", (object?)replayId ?? DBNull.Value);
        return (int)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private Task<IReadOnlyList<RecordedEvent>> ReadLogAsync(long after, long upTo, CancellationToken cancellationToken) =>
        EventLogReader.ReadRangeAsync(eventStore.DataSource, after, upTo, TailPage, cancellationToken);

    private async Task DropAsync(string schema, int generation, CancellationToken cancellationToken)
    {
        await using (var drop = dataSource.CreateCommand($"drop schema if exists {schema} cascade"))
        {
            await drop.ExecuteNonQueryAsync(cancellationToken);
        }

        await DeleteGenerationAsync(generation);
    }

    /// <summary>Removes a generation's Redis keys; a Redis that is away leaves them to expire unused (never read again).</summary>
    private async Task DeleteGenerationAsync(int generation)
    {
        try
        {
            var database = redis.GetDatabase();
            foreach (var server in redis.GetServers().Where(server => server.IsConnected && !server.IsReplica))
            {
                var batch = new List<RedisKey>(1000);
                await foreach (var key in server.KeysAsync(database.Database, $"{consumer}:v{generation}:*", pageSize: 1000))
                {
                    batch.Add(key);
                    if (batch.Count == 1000)
                    {
                        await database.KeyDeleteAsync([.. batch]);
                        batch.Clear();
                    }
                }

                if (batch.Count > 0)
                {
                    await database.KeyDeleteAsync([.. batch]);
                }
            }
        }
        catch (RedisException exception)
        {
            LogCacheCleanupFailed(exception, consumer, generation);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Rebuild {ReplayId} of {Consumer} builds a fresh copy in {Schema}, cache generation {Generation}")]
    private partial void LogShadowCreated(string consumer, string replayId, string schema, int generation);

    [LoggerMessage(Level = LogLevel.Information, Message = "Rebuild {ReplayId} of {Consumer} cut over at position {Position} after a tail of {Tail} events; cache generation {Generation}")]
    private partial void LogCutOver(string consumer, string replayId, long position, int tail, int generation);

    [LoggerMessage(Level = LogLevel.Information, Message = "Rebuild {ReplayId} of {Consumer} abandoned; its fresh copy is dropped")]
    private partial void LogAbandoned(string consumer, string replayId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Consumer {Consumer} wrote the cache entries of {Applies} applies again (cache generation {Generation})")]
    private partial void LogCacheRepaired(string consumer, int applies, int generation);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not remove cache generation {Generation} of {Consumer}")]
    private partial void LogCacheCleanupFailed(Exception exception, string consumer, int generation);
}
