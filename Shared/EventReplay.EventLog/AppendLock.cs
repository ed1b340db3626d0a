using Npgsql;

namespace EventReplay.EventLog;

/// <summary>
/// Makes positions safe to tail without slowing appends down.
/// <para>
/// Marten draws positions from a PostgreSQL sequence, and concurrent transactions can commit out of sequence
/// order: a reader could see position 11 while 10 is still in flight, move past it, and never see 10. So every
/// append holds this lock in shared mode from just before it draws positions until it commits (appends never
/// wait for each other). A reader first reads the sequence's last value L, then lists the transactions holding
/// the lock, then waits until those transactions have ended. Any transaction holding a position up to L took the
/// lock before L was read, so it is on that list or already finished; once the list has drained, every position
/// up to L is committed or rolled back for good, and a fresh snapshot can hand them out in order.
/// </para>
/// </summary>
public static class AppendLock
{
    // Arbitrary, fixed key ("EVRAPPND") that nothing else in the database uses.
    public const long Key = 0x4556_5241_5050_4E44;

    // PostgreSQL shows a bigint advisory key in pg_locks as its high and low 32 bits.
    private const long KeyHigh = Key >> 32;
    private const long KeyLow = Key & 0xFFFF_FFFF;

    // Namespace of the per-stream locks: the two-int form keeps them apart from the bigint key above.
    private const int StreamLockSpace = 0x4556_5253;

    private static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Queues commands on one stream behind each other for the rest of the transaction, so a busy account is
    /// a short wait rather than a storm of optimistic-concurrency failures and retries. The version check on
    /// append stays as the guarantee; this only makes it rarely fire.
    /// </summary>
    public static async Task LockStreamAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string streamId,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("select pg_advisory_xact_lock(@space, hashtext(@stream))", connection, transaction);
        command.Parameters.AddWithValue("space", StreamLockSpace);
        command.Parameters.AddWithValue("stream", streamId);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public static async Task AcquireAsync(NpgsqlConnection connection, NpgsqlTransaction transaction,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("select pg_advisory_xact_lock_shared(@key)", connection, transaction);
        command.Parameters.AddWithValue("key", Key);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// The highest position up to which no in-flight append can still commit an event, or null when appends in
    /// flight did not finish within a few seconds (the caller answers 503 rather than risk a gap).
    /// </summary>
    public static async Task<long?> SafeHeadAsync(NpgsqlConnection connection, string schema, CancellationToken cancellationToken)
    {
        long head;
        bool free;
        // One round trip, in this order: the sequence's last value, then whether the lock is free at all (taken exclusively
        // for an instant and given back; it never waits, so appends are held up by microseconds at most). Free: every
        // append that drew a position up to the head has ended. Only when it is not are its holders listed (pg_locks reads
        // every backend's locks, costly when asked for a hundred times a second).
        await using (var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand($"select case when is_called then last_value else 0 end from {schema}.mt_events_sequence"),
                new NpgsqlBatchCommand("select case when pg_try_advisory_lock($1) then pg_advisory_unlock($1) else false end")
                {
                    Parameters = { new NpgsqlParameter<long> { TypedValue = Key } },
                },
            },
        })
        {
            await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            head = reader.GetInt64(0);
            await reader.NextResultAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            free = reader.GetBoolean(0);
        }

        if (free)
        {
            return head;
        }

        // Read after the sequence, never before: see the summary.
        var holders = await HoldersAsync(connection, null, cancellationToken);
        var deadline = DateTime.UtcNow + MaxWait;
        // Appends commit within milliseconds; back off so that waiting readers do not crowd the lock manager.
        var pause = TimeSpan.FromMilliseconds(1);
        while (holders.Length > 0)
        {
            if (DateTime.UtcNow > deadline)
            {
                return null;
            }

            await Task.Delay(pause, cancellationToken);
            pause = TimeSpan.FromMilliseconds(Math.Min(pause.TotalMilliseconds * 2, 20));
            holders = await HoldersAsync(connection, holders, cancellationToken);
        }

        return head;
    }

    private static async Task<string[]> HoldersAsync(NpgsqlConnection connection, string[]? among, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            """
            select coalesce(array_agg(virtualtransaction), '{}') from pg_locks
            where locktype = 'advisory' and classid::bigint = @high and objid::bigint = @low and objsubid = 1 and granted
              and (@among::text[] is null or virtualtransaction = any(@among))
            """, connection);
        command.Parameters.AddWithValue("high", KeyHigh);
        command.Parameters.AddWithValue("low", KeyLow);
        command.Parameters.Add(new NpgsqlParameter<string[]?>("among", NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text) { TypedValue = among });
        return (string[])(await command.ExecuteScalarAsync(cancellationToken))!;
    }
}
