using System.IO.Hashing;
using System.Text;
using Npgsql;
using NpgsqlTypes;

namespace EventReplay.EventLog;

/// <summary>
/// Where a kind of stream keeps what its writer needs besides the events: Marten's stream type name, the table of its
/// inline snapshot (a Marten document, <c>mt_version</c> being the stream's version) and the table of its idempotency
/// records (a Marten document keyed by the key), each with the .NET type name Marten stores beside the JSON.
/// </summary>
public sealed record StreamTables(string StreamType, string SnapshotTable, string SnapshotType, string KeyTable, string KeyType);

/// <summary>A stream as the store has it under the batch's lock: its version, and its snapshot unless the caller's copy is current.</summary>
public readonly record struct StoredStream(long Version, string? Snapshot);

/// <summary>One event to append: its stream, the version it takes there, Marten's type names, JSON data and traceparent.</summary>
public sealed record NewEvent(string StreamId, long Version, string Type, string DotnetType, string Data, string? TraceParent);

/// <summary>A stream's snapshot after the batch: the stream's version and the state's JSON.</summary>
public sealed record NewSnapshot(string StreamId, long Version, string Data);

/// <summary>
/// The statements of one group commit, on the writer's own connection and transaction: each step is one round trip
/// however many commands the batch holds. Events, streams and snapshots are written as Marten writes them (its tables,
/// columns and type names), so Marten and every reader of the log read them as before.
/// </summary>
public static class StreamBatch
{
    // Namespaces of the per-stream and per-key transaction locks (two-int advisory locks, apart from the bigint keys).
    private const int StreamLockSpace = 0x4556_5253;
    private const int KeyLockSpace = 0x4556_524B;

    /// <summary>
    /// Locks the streams and idempotency keys for the rest of the transaction, in one fixed order (so two batches, of
    /// this instance or another, wait for each other instead of deadlocking), then reads, under those locks, each
    /// stream's version, the snapshot of those whose version differs from <paramref name="cached"/>, and the records of
    /// the keys. A stream absent from the result does not exist.
    /// </summary>
    public static async Task<(Dictionary<string, StoredStream> Streams, Dictionary<string, string> Records)> LockAndReadAsync(
        NpgsqlConnection connection, StreamTables tables, IReadOnlyCollection<string> streams,
        IReadOnlyDictionary<string, long> cached, IReadOnlyCollection<string> keys, CancellationToken cancellationToken)
    {
        var locks = streams.Select(stream => (Space: StreamLockSpace, Key: LockKey(stream)))
            .Concat(keys.Select(key => (Space: KeyLockSpace, Key: LockKey(key))))
            .Distinct().Order().ToArray();
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                // Evaluated row by row in the array's order (a volatile function in the target list runs after the sort).
                Command("select pg_advisory_xact_lock(l.space, l.key) from unnest(@spaces, @keys) with ordinality l(space, key, i) order by l.i",
                    ("spaces", locks.Select(l => l.Space).ToArray()), ("keys", locks.Select(l => l.Key).ToArray())),
                // One primary-key lookup per stream, whatever the tables' statistics were when the statement's plan was
                // cached: as a join, a plan made while the tables were small kept scanning and hashing all of both tables
                // (0.5-1 ms a batch at 1,600 accounts, growing with them). "offset 0" keeps the lookup a lookup; the
                // snapshot is read only for a stream whose cached version is not the store's.
                Command($"""
                    select i.id, s.version, case when c.version is distinct from s.version
                        then (select d.data::text from {tables.SnapshotTable} d where d.id = i.id) end
                    from unnest(@ids::text[]) i(id)
                    join lateral (select version from {EventTable.Schema}.mt_streams where id = i.id offset 0) s on true
                    left join unnest(@cachedIds::text[], @cachedVersions::bigint[]) c(id, version) on c.id = i.id
                    """,
                    ("ids", streams.ToArray()), ("cachedIds", cached.Keys.ToArray()), ("cachedVersions", cached.Values.ToArray())),
                Command($"select id, data::text from {tables.KeyTable} where id = any(@keys)", ("keys", keys.ToArray())),
            },
        };
        await batch.PrepareAsync(cancellationToken);
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        await reader.NextResultAsync(cancellationToken);
        var found = new Dictionary<string, StoredStream>(StringComparer.Ordinal);
        while (await reader.ReadAsync(cancellationToken))
        {
            found[reader.GetString(0)] = new StoredStream(reader.GetInt64(1), reader.IsDBNull(2) ? null : reader.GetString(2));
        }

        await reader.NextResultAsync(cancellationToken);
        var records = new Dictionary<string, string>(StringComparer.Ordinal);
        while (await reader.ReadAsync(cancellationToken))
        {
            records[reader.GetString(0)] = reader.GetString(1);
        }

        return (found, records);
    }

    /// <summary>
    /// Draws positions for <paramref name="events"/> (in their order) under the append lock (see <see cref="AppendLock"/>),
    /// which the transaction then holds until it ends.
    /// </summary>
    public static async Task<long[]> DrawPositionsAsync(NpgsqlConnection connection, int count, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                Command("select pg_advisory_xact_lock_shared(@key)", ("key", AppendLock.Key)),
                Command($"select nextval('{EventTable.Schema}.mt_events_sequence') from generate_series(1, @count)", ("count", count)),
            },
        };
        await batch.PrepareAsync(cancellationToken);
        var positions = new long[count];
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        await reader.NextResultAsync(cancellationToken);
        for (var i = 0; await reader.ReadAsync(cancellationToken); i++)
        {
            positions[i] = reader.GetInt64(0);
        }

        // One sequence, one session: the values come in increasing order; sorted anyway, as positions must rise with versions.
        Array.Sort(positions);
        return positions;
    }

    /// <summary>
    /// Writes the batch with one multi-row statement per table: events at <paramref name="positions"/>, the streams'
    /// versions, their snapshots, the idempotency records (key and JSON). With nothing to write but answers that rest
    /// on what was read, <paramref name="barrier"/> makes the commit wait for the synchronous standby (see
    /// <see cref="SynchronousStandby"/>); a commit that writes waits for it anyway.
    /// </summary>
    public static async Task WriteAsync(NpgsqlConnection connection, StreamTables tables, IReadOnlyList<NewEvent> events,
        IReadOnlyList<long> positions, IReadOnlyList<NewSnapshot> snapshots, IReadOnlyList<(string Key, string Data)> records,
        bool barrier, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(connection);
        if (events.Count > 0)
        {
            // The streams first: the events' foreign key names them.
            batch.BatchCommands.Add(Command($"""
                insert into {EventTable.Schema}.mt_streams (id, type, version, timestamp, created, tenant_id, is_archived)
                select s.id, @type, s.version, now(), now(), '*DEFAULT*', false from unnest(@ids::text[], @versions::bigint[]) s(id, version)
                on conflict (id) do update set version = excluded.version, timestamp = excluded.timestamp
                """,
                ("type", tables.StreamType), ("ids", snapshots.Select(s => s.StreamId).ToArray()),
                ("versions", snapshots.Select(s => s.Version).ToArray())));
            batch.BatchCommands.Add(Command($"""
                insert into {EventTable.Name} (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, mt_dotnet_type, headers, is_archived)
                select e.seq_id, gen_random_uuid(), e.stream_id, e.version, e.data, e.type, now(), '*DEFAULT*', e.dotnet_type,
                       case when e.trace_parent is null then null else jsonb_build_object('{EventTable.TraceParentHeader}', e.trace_parent) end, false
                from unnest(@positions::bigint[], @streams::text[], @versions::bigint[], @data::jsonb[], @types::text[], @dotnetTypes::text[], @traceParents::text[])
                     e(seq_id, stream_id, version, data, type, dotnet_type, trace_parent)
                """,
                ("positions", positions.ToArray()), ("streams", events.Select(e => e.StreamId).ToArray()),
                ("versions", events.Select(e => e.Version).ToArray()), Jsonb("data", events.Select(e => e.Data)),
                ("types", events.Select(e => e.Type).ToArray()), ("dotnetTypes", events.Select(e => e.DotnetType).ToArray()),
                ("traceParents", events.Select(e => e.TraceParent).ToArray())));
            batch.BatchCommands.Add(Command($"""
                insert into {tables.SnapshotTable} (id, data, mt_last_modified, mt_dotnet_type, mt_version)
                select s.id, s.data, transaction_timestamp(), @type, s.version from unnest(@ids::text[], @data::jsonb[], @versions::bigint[]) s(id, data, version)
                on conflict (id) do update set data = excluded.data, mt_last_modified = excluded.mt_last_modified, mt_version = excluded.mt_version
                """,
                ("type", tables.SnapshotType), ("ids", snapshots.Select(s => s.StreamId).ToArray()),
                Jsonb("data", snapshots.Select(s => s.Data)), ("versions", snapshots.Select(s => s.Version).ToArray())));
        }

        if (records.Count > 0)
        {
            batch.BatchCommands.Add(Command($"""
                insert into {tables.KeyTable} (id, data, mt_dotnet_type, mt_last_modified)
                select r.id, r.data, @type, transaction_timestamp() from unnest(@ids::text[], @data::jsonb[]) r(id, data)
                """,
                ("type", tables.KeyType), ("ids", records.Select(r => r.Key).ToArray()), Jsonb("data", records.Select(r => r.Data))));
        }

        if (barrier && batch.BatchCommands.Count == 0)
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand(SynchronousStandby.Sql));
        }

        if (batch.BatchCommands.Count == 0)
        {
            return;
        }

        await batch.PrepareAsync(cancellationToken);
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>A stable 32-bit lock key for a stream id or an idempotency key (the same in every process and version).</summary>
    public static int LockKey(string name) => unchecked((int)XxHash32.HashToUInt32(Encoding.UTF8.GetBytes(name)));

    private static NpgsqlBatchCommand Command(string sql, params (string Name, object Value)[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.Add(value as NpgsqlParameter ?? new NpgsqlParameter(name, value));
        }

        return command;
    }

    private static (string, object) Jsonb(string name, IEnumerable<string> values) =>
        (name, new NpgsqlParameter(name, NpgsqlDbType.Array | NpgsqlDbType.Jsonb) { Value = values.ToArray() });
}
