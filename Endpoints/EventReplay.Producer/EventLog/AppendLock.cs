using Npgsql;

namespace EventReplay.Producer.EventLog;

/// <summary>
/// Makes positions safe to tail. Marten takes positions from a PostgreSQL sequence, and two concurrent
/// transactions can commit out of sequence order: a reader could see position 11 while 10 is still in flight
/// and would skip 10 for ever. Every append therefore takes this transaction-scoped lock just before it draws
/// positions and holds it until commit (PostgreSQL releases it after the commit is visible). Positions are then
/// drawn and committed in order, so whatever a reader sees, every lower position is already committed or was
/// rolled back for good. Only the save-and-commit step is serialised; reads and decisions stay concurrent.
/// </summary>
public static class AppendLock
{
    // Arbitrary, fixed key ("EVRAPPND") that nothing else in the database uses.
    public const long Key = 0x4556_5241_5050_4E44;

    public static async Task AcquireAsync(NpgsqlConnection connection, NpgsqlTransaction transaction,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("select pg_advisory_xact_lock(@key)", connection, transaction);
        command.Parameters.AddWithValue("key", Key);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
