using EventReplay.Contracts;
using EventReplay.Messaging;
using Npgsql;
using NpgsqlTypes;

namespace EventReplay.Consumers.Balances.Balances;

/// <summary>
/// The balances read model in PostgreSQL (schema <c>balances</c>, or a fresh copy's schema during a rebuild): a batch
/// is applied in one transaction that also moves the checkpoint, so the rows and the last applied position never
/// disagree. Reads always come from the live copy.
/// </summary>
public sealed class BalanceStore(NpgsqlDataSource dataSource)
{
    public const string Schema = "balances";

    public async Task EnsureSchemaAsync(string schema, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"""
            create schema if not exists {schema};
            create table if not exists {schema}.accounts (
                account_id text primary key,
                owner text not null,
                balance numeric(22, 2) not null,
                status text not null,
                version bigint not null,
                position bigint not null,
                updated_at timestamptz not null);
            -- The apply that last changed the row (ReadModelCopies.BeginApplyAsync), to write its cache entry again.
            alter table {schema}.accounts add column if not exists applied_seq bigint not null default 0;
            -- Half-empty pages: an update finds room on its row's own page (a HOT update, no index write), which
            -- halves the cost of applying a batch that touches hundreds of accounts.
            alter table {schema}.accounts set (fillfactor = 50);
            create table if not exists {schema}.checkpoint (
                id int primary key check (id = 1),
                position bigint not null,
                updated_at timestamptz not null);
            insert into {schema}.checkpoint values (1, 0, now()) on conflict (id) do nothing;
            {ParkedEvents.CreateTableSql(schema)}
            """);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Applies a batch together with the events parked earlier (a gap may be filled now), in position order, in one
    /// transaction with the checkpoint. Events still waiting for an earlier version are parked, with the reason.
    /// </summary>
    public async Task<(BatchResult Result, CopyApply Apply)> ApplyAsync(IReadOnlyList<RecordedEvent> batch, ReadModelCopy copy,
        ReadModelCopies copies, CancellationToken cancellationToken)
    {
        var schema = copy.Schema;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var apply = await copies.BeginApplyAsync(connection, transaction, copy, cancellationToken);
        var (parked, events) = await ParkedEvents.WithBatchAsync(connection, schema, batch, cancellationToken);
        var ids = events.Select(e => e.StreamId).Distinct().ToArray();
        // No row locks: the apply lock already makes this the only writer of the copy (and locking 500 rows costs
        // PostgreSQL a write per row).
        var rows = await ReadAsync(connection, schema, "where account_id = any(@ids)", ids, cancellationToken);
        var result = BalanceProjection.ApplyBatch(rows.ToDictionary(row => row.AccountId), events);
        await ParkedEvents.UpdateAsync(connection, schema, parked, result.Gaps, cancellationToken);

        if (result.Changed.Count > 0)
        {
            await using var upsert = new NpgsqlCommand(
                $"""
                insert into {schema}.accounts (account_id, owner, balance, status, version, position, updated_at, applied_seq)
                select *, @seq from unnest(@ids, @owners, @balances, @statuses, @versions, @positions, @updated)
                on conflict (account_id) do update set owner = excluded.owner, balance = excluded.balance,
                    status = excluded.status, version = excluded.version, position = excluded.position,
                    updated_at = excluded.updated_at, applied_seq = excluded.applied_seq
                """, connection, transaction);
            upsert.Parameters.AddWithValue("seq", apply.Seq);
            var changed = result.Changed;
            upsert.Parameters.Add(new NpgsqlParameter<string[]>("ids", [.. changed.Select(r => r.AccountId)]));
            upsert.Parameters.Add(new NpgsqlParameter<string[]>("owners", [.. changed.Select(r => r.Owner)]));
            upsert.Parameters.Add(new NpgsqlParameter<decimal[]>("balances", [.. changed.Select(r => r.Balance)]));
            upsert.Parameters.Add(new NpgsqlParameter<string[]>("statuses", [.. changed.Select(r => r.Status)]));
            upsert.Parameters.Add(new NpgsqlParameter<long[]>("versions", [.. changed.Select(r => r.Version)]));
            upsert.Parameters.Add(new NpgsqlParameter<long[]>("positions", [.. changed.Select(r => r.Position)]));
            upsert.Parameters.Add(new NpgsqlParameter<DateTimeOffset[]>("updated", [.. changed.Select(r => r.UpdatedAt)])
            {
                NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz,
            });
            await upsert.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var checkpoint = new NpgsqlCommand(
            $"update {schema}.checkpoint set position = greatest(position, @position), updated_at = now()", connection, transaction))
        {
            checkpoint.Parameters.AddWithValue("position", events.Count > 0 ? events.Max(e => e.Position) : 0L);
            await checkpoint.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return (result, apply);
    }

    /// <summary>The rows of a copy that the given applies changed last, read on a connection the caller holds.</summary>
    public static Task<List<AccountBalance>> ChangedByAsync(NpgsqlConnection connection, string schema, long[] applies,
        CancellationToken cancellationToken) =>
        ReadAsync(connection, schema, "where applied_seq = any(@ids)", applies, cancellationToken);

    public async Task<IReadOnlyList<AccountBalance>> FindManyAsync(IReadOnlyCollection<string> accountIds,
        CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await ReadAsync(connection, Schema, "where account_id = any(@ids)", [.. accountIds], cancellationToken);
    }

    public async Task<AccountBalance?> FindAsync(string accountId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return (await ReadAsync(connection, Schema, "where account_id = any(@ids)", [accountId], cancellationToken)).SingleOrDefault();
    }

    private static async Task<List<AccountBalance>> ReadAsync<TId>(NpgsqlConnection connection, string schema, string where, TId[] ids,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            $"select account_id, owner, balance, status, version, position, updated_at from {schema}.accounts {where}", connection);
        command.Parameters.Add(new NpgsqlParameter<TId[]>("ids", ids));
        var rows = new List<AccountBalance>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new AccountBalance(reader.GetString(0), reader.GetString(1), reader.GetDecimal(2), reader.GetString(3),
                reader.GetInt64(4), reader.GetInt64(5), reader.GetFieldValue<DateTimeOffset>(6)));
        }

        return rows;
    }

    public static async Task<long> CheckpointAsync(NpgsqlConnection connection, string schema, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand($"select position from {schema}.checkpoint", connection);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }
}
