using Npgsql;

namespace EventReplay.Hosting.Consuming;

/// <summary>
/// One batch at a time per read model: a consumer's live and replay queues both apply to the same rows, and the
/// version rule holds only if a batch reads the versions it builds on after the previous batch committed.
/// A transaction-scoped advisory lock per schema; batches take turns, so a replay cannot starve live events.
/// </summary>
public static class ApplyLock
{
    // Namespace of these locks ("EVAP"), in the two-int form.
    private const int Space = 0x4556_4150;

    public static async Task AcquireAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string schema,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("select pg_advisory_xact_lock(@space, hashtext(@schema))", connection, transaction);
        command.Parameters.AddWithValue("space", Space);
        command.Parameters.AddWithValue("schema", schema);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
