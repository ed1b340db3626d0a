using EventReplay.Hosting;
using Npgsql;

namespace EventReplay.Messaging;

/// <summary>
/// One batch at a time per read model: a consumer's live and replay queues both apply to the same rows, and the
/// version rule holds only if a batch reads the versions it builds on after the previous batch committed.
/// A transaction-scoped advisory lock per schema; batches take turns, so a replay cannot starve live events.
/// </summary>
public static class ApplyLock
{
    // Namespace of these locks ("EVAP"), in the two-int form.
    private const int Space = 0x4556_4150;

    /// <summary>The statement that takes the lock (parameters from <see cref="AddParameters"/>), for commands that do more after it.</summary>
    public const string Sql = "select pg_advisory_xact_lock(@lock_space, hashtext(@lock_schema))";

    public static void AddParameters(NpgsqlCommand command, string schema)
    {
        command.Parameters.AddWithValue("lock_space", Space);
        command.Parameters.AddWithValue("lock_schema", schema);
    }

    public static async Task AcquireAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string schema,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(Sql, connection, transaction);
        AddParameters(command, schema);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
