using EventReplay.Contracts;
using EventReplay.Messaging;
using Npgsql;

namespace EventReplay.Consumers.Statistics.Statistics;

/// <summary>
/// The statistics read model in PostgreSQL (schema <c>statistics</c>): one totals row, which is also the checkpoint,
/// and the last applied version of every stream (for the version rule), written in one transaction per batch.
/// </summary>
public sealed class StatisticsStore(NpgsqlDataSource dataSource)
{
    public const string Schema = "statistics";

    public async Task EnsureSchemaAsync(string schema, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"""
            create schema if not exists {schema};
            create table if not exists {schema}.totals (
                id int primary key check (id = 1),
                accounts bigint not null,
                open_accounts bigint not null,
                deposit_count bigint not null,
                deposit_total numeric(28, 2) not null,
                withdrawal_count bigint not null,
                withdrawal_total numeric(28, 2) not null,
                position bigint not null);
            insert into {schema}.totals values (1, 0, 0, 0, 0, 0, 0, 0) on conflict (id) do nothing;
            -- The apply that last changed the totals (ReadModelCopies.BeginApplyAsync), to write their cache entry again.
            alter table {schema}.totals add column if not exists applied_seq bigint not null default 0;
            create table if not exists {schema}.stream_versions (stream_id text primary key, version bigint not null);
            {ParkedEvents.CreateTableSql(schema)}
            """);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<(StatisticsBatch Result, CopyApply Apply)> ApplyAsync(IReadOnlyList<RecordedEvent> batch, ReadModelCopy copy,
        ReadModelCopies copies, CancellationToken cancellationToken)
    {
        var schema = copy.Schema;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var apply = await copies.BeginApplyAsync(connection, transaction, copy, cancellationToken);
        var totals = await ReadTotalsAsync(connection, schema, forUpdate: true, cancellationToken);
        var (parked, events) = await ParkedEvents.WithBatchAsync(connection, schema, batch, cancellationToken);
        var versions = await ReadVersionsAsync(connection, schema, [.. events.Select(e => e.StreamId).Distinct()], cancellationToken);
        var result = StatisticsProjection.ApplyBatch(totals, versions, events);

        if (result.Versions.Count > 0)
        {
            await using var upsert = new NpgsqlCommand(
                $"""
                insert into {schema}.stream_versions (stream_id, version) select * from unnest(@streams, @versions)
                on conflict (stream_id) do update set version = excluded.version
                """, connection);
            upsert.Parameters.Add(new NpgsqlParameter<string[]>("streams", [.. result.Versions.Keys]));
            upsert.Parameters.Add(new NpgsqlParameter<long[]>("versions", [.. result.Versions.Values]));
            await upsert.ExecuteNonQueryAsync(cancellationToken);
        }

        var t = result.Totals with { Position = Math.Max(result.Totals.Position, events.Count > 0 ? events.Max(e => e.Position) : 0) };
        await using (var update = new NpgsqlCommand(
            $"""
            update {schema}.totals set accounts = @accounts, open_accounts = @open, deposit_count = @depositCount,
                deposit_total = @depositTotal, withdrawal_count = @withdrawalCount, withdrawal_total = @withdrawalTotal,
                position = greatest(position, @position), applied_seq = @seq
            """, connection))
        {
            update.Parameters.AddWithValue("seq", apply.Seq);
            update.Parameters.AddWithValue("accounts", t.Accounts);
            update.Parameters.AddWithValue("open", t.OpenAccounts);
            update.Parameters.AddWithValue("depositCount", t.DepositCount);
            update.Parameters.AddWithValue("depositTotal", t.DepositTotal);
            update.Parameters.AddWithValue("withdrawalCount", t.WithdrawalCount);
            update.Parameters.AddWithValue("withdrawalTotal", t.WithdrawalTotal);
            update.Parameters.AddWithValue("position", t.Position);
            await update.ExecuteNonQueryAsync(cancellationToken);
        }

        await ParkedEvents.UpdateAsync(connection, schema, parked, result.Gaps, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return (result with { Totals = t }, apply);
    }

    public async Task<Totals> GetAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await ReadTotalsAsync(connection, Schema, forUpdate: false, cancellationToken);
    }

    public static async Task<Totals> ReadTotalsAsync(NpgsqlConnection connection, string schema, bool forUpdate,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            $"""
            select accounts, open_accounts, deposit_count, deposit_total, withdrawal_count, withdrawal_total, position
            from {schema}.totals {(forUpdate ? "for update" : "")}
            """, connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new Totals(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetDecimal(3), reader.GetInt64(4),
            reader.GetDecimal(5), reader.GetInt64(6));
    }

    private static async Task<Dictionary<string, long>> ReadVersionsAsync(NpgsqlConnection connection, string schema, string[] streams,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            $"select stream_id, version from {schema}.stream_versions where stream_id = any(@streams)", connection);
        command.Parameters.Add(new NpgsqlParameter<string[]>("streams", streams));
        var versions = new Dictionary<string, long>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            versions[reader.GetString(0)] = reader.GetInt64(1);
        }

        return versions;
    }

    public static async Task<long> CheckpointAsync(NpgsqlConnection connection, string schema, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand($"select position from {schema}.totals", connection);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }
}
