using System.Diagnostics;
using Npgsql;

namespace EventReplay.Testing;

/// <summary>Where the consumers stand against the log, read from their checkpoints in PostgreSQL.</summary>
public static class Checkpoints
{
    /// <summary>
    /// Waits until both consumers have applied everything the log holds now (their checkpoints reach its head) and
    /// returns how long that took; throws <see cref="TimeoutException"/> when <paramref name="timeout"/> runs out.
    /// </summary>
    public static async Task<TimeSpan> CatchUpAsync(SystemDatabases databases, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        var head = await Eventually.Until(() => ReadAsync(databases.EventStore, "select coalesce(max(seq_id), 0) from producer.mt_events"),
            position => position >= 0, timeout, "the event store to answer");
        await Eventually.Until(
            () => ReadAsync(databases.ReadModels, "select least((select position from balances.checkpoint), (select position from statistics.totals))"),
            position => position >= head, timeout - clock.Elapsed, $"both consumers to reach position {head}");
        return clock.Elapsed;
    }

    // -1 while PostgreSQL does not answer (it may be restarting).
    private static async Task<long> ReadAsync(string postgres, string sql)
    {
        try
        {
            return await Database.ScalarAsync(postgres, sql);
        }
        catch (NpgsqlException)
        {
            return -1;
        }
    }
}
