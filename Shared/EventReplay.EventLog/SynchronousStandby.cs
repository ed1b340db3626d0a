using Npgsql;

namespace EventReplay.EventLog;

/// <summary>
/// What a session saw is confirmed to be on the event store's synchronous standby before anyone is told about it.
/// <para>
/// PostgreSQL cancels a COMMIT that waits for its synchronous standby (a statement timeout, a client's cancel, a
/// shutdown) with a mere WARNING: the transaction stays committed on the primary and becomes visible there, though the
/// standby may never receive it. If that primary is then replaced (a failover, a planned switchover: the old primary is
/// rewound to the new one's history), the transaction is gone. Readers of the primary could have seen it meanwhile: a
/// retried command could find its idempotency record, the publisher could publish the event. Both first commit a
/// write of their own (<see cref="Sql"/>: a transactional WAL message, which touches no table and keeps nothing; a
/// transaction id alone writes no WAL and so would not wait): that commit waits for the standby to hold everything
/// written before it, the unconfirmed transaction included. If the standby never answers, the barrier's own wait times
/// out and fails, and nothing is acknowledged or published.
/// </para>
/// <para>
/// A barrier's COMMIT must fail when its wait is cancelled rather than report success with the WARNING, which is why
/// every PostgreSQL connection string of the system is given <c>Cancellation Timeout=-1</c>
/// (<c>ServiceDefaults.PostgresConnectionString</c>): Npgsql then breaks the connection at the timeout instead of
/// reading the server's answer to its cancellation. The same holds for every command's own COMMIT.
/// </para>
/// Without synchronous standbys (a single server, or a primary that lost its standby and replicates asynchronously
/// until it is back, which no failover may then promote) the barrier writes nothing and returns at once.
/// </summary>
public static class SynchronousStandby
{
    public const string Sql = "select case when current_setting('synchronous_standby_names') <> '' "
        + "then pg_logical_emit_message(true, 'eventreplay.standby-barrier', '') end";

    /// <summary>
    /// In a transaction: the transaction's COMMIT waits for the standby (the caller commits it). Outside one, the
    /// statement is its own transaction and returns once the standby has confirmed.
    /// </summary>
    public static async Task BarrierAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(Sql, connection, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
