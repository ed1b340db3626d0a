using Npgsql;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>
/// What the monitor collected of the messages set aside (its table <c>monitor.failed_messages</c>): every stack runs a
/// monitor, which empties the dead-letter queues and the replay service's dead-letter table into it, so a test that
/// wants to see a dead letter reads it there.
/// </summary>
public static class CollectedFailures
{
    public sealed record Failure(string Body, string Reason, string Queue, string FoundIn, string Status, int Attempts, DateTimeOffset FailedAt);

    /// <summary>The failed messages whose body holds <paramref name="text"/> (and that match), once at least one is there.</summary>
    public static async Task<List<Failure>> NamingAsync(string readModels, string text, TimeSpan within, Func<Failure, bool>? where = null) =>
        await Eventually.Until(async () => (await ReadAsync(readModels, text)).Where(where ?? (_ => true)).ToList(), found => found.Count > 0,
            within, $"the monitor to have collected a failed message naming '{text}'");

    /// <summary>The failed messages whose body holds <paramref name="text"/> now (none when the monitor's tables are not made yet).</summary>
    public static async Task<List<Failure>> ReadAsync(string readModels, string text)
    {
        await using var connection = new NpgsqlConnection(readModels);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("""
            select body, reason, queue, found_in, status, attempts, failed_at from monitor.failed_messages
            where position(convert_to(@text, 'UTF8') in body) > 0
            order by failed_at
            """, connection);
        command.Parameters.AddWithValue("text", text);
        var found = new List<Failure>();
        try
        {
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                found.Add(new Failure(System.Text.Encoding.UTF8.GetString(reader.GetFieldValue<byte[]>(0)), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4),
                    reader.GetInt32(5), reader.GetFieldValue<DateTimeOffset>(6)));
            }
        }
        catch (PostgresException exception) when (exception.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            // the monitor has not made its tables yet
        }

        return found;
    }
}
