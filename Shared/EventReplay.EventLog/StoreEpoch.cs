using Npgsql;

namespace EventReplay.EventLog;

/// <summary>The event store's identity now: its epoch, since when, and why it was drawn.</summary>
public sealed record StoreIdentity(string Epoch, DateTimeOffset Since, string Reason);

/// <summary>
/// The event store's identity. A new epoch is drawn whenever the store goes back in time: by <c>eng/restore.sh</c> after
/// a point-in-time restore, or by a consumer that finds the store's head behind its own checkpoint. Every published
/// event carries the epoch (AMQP header <see cref="Header"/>) and every read model records the one it applied, so a
/// read model that meets another one knows it holds events the store no longer has, and rebuilds itself from the store.
/// A failover does not change it: with synchronous replication the promoted node has every acknowledged event.
/// </summary>
public static class StoreEpoch
{
    public const string Header = "x-store-epoch";

    public const string Table = EventTable.Schema + ".store_epoch";

    /// <summary>The table (the producer's schema step makes it).</summary>
    public const string TableSql = $"""
        create table if not exists {Table} (
            id int primary key default 1 check (id = 1), epoch text not null, since timestamptz not null default now(),
            reason text not null);
        """;

    /// <summary>A first epoch if the store has none yet (the publisher draws it, with its checkpoint).</summary>
    public const string SeedSql =
        $"insert into {Table} (epoch, reason) values (gen_random_uuid()::text, 'created') on conflict (id) do nothing;";

    /// <summary>The store's identity; null while the store has none yet (no publisher ever ran on it).</summary>
    public static async Task<StoreIdentity?> ReadAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            $"select epoch, since, reason from {Table}", connection);
        try
        {
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            return await reader.ReadAsync(cancellationToken)
                ? new StoreIdentity(reader.GetString(0), reader.GetFieldValue<DateTimeOffset>(1), reader.GetString(2))
                : null;
        }
        catch (PostgresException exception) when (exception.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return null;
        }
    }

    public static async Task<StoreIdentity?> ReadAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await ReadAsync(connection, cancellationToken);
    }

    /// <summary>
    /// Draws a new epoch if the store's is still <paramref name="expected"/> (so of several that notice at once, one
    /// draws it); returns the identity the store has afterwards.
    /// </summary>
    public static async Task<StoreIdentity?> RenewAsync(NpgsqlDataSource dataSource, string expected, string reason,
        CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using (var renew = new NpgsqlCommand(
            $"update {Table} set epoch = gen_random_uuid()::text, since = now(), reason = @reason where epoch = @expected", connection))
        {
            renew.Parameters.AddWithValue("expected", expected);
            renew.Parameters.AddWithValue("reason", reason);
            await renew.ExecuteNonQueryAsync(cancellationToken);
        }

        return await ReadAsync(connection, cancellationToken);
    }

    /// <summary>The highest position in the store (0 when empty).</summary>
    public static async Task<long> HeadAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"select coalesce(max(seq_id), 0) from {EventTable.Name}");
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }
}
