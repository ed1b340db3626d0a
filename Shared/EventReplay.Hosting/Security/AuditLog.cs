using Microsoft.AspNetCore.Http;
using Npgsql;

namespace EventReplay.Hosting.Security;

/// <summary>One operator action: who (the token's name; <see cref="OnBehalfOf"/> what the caller claimed to act for),
/// what (<see cref="Action"/> on <see cref="Target"/>), how it came (<see cref="Via"/>: http, amqp, console), from where
/// and with which correlation id.</summary>
public sealed record AuditEntry(string Actor, string? OnBehalfOf, string Action, string Target, string Via, string? Address,
    string? CorrelationId, string? Detail = null)
{
    /// <summary>
    /// A value as the trail keeps it: without NUL (PostgreSQL text cannot hold one; what a caller sent may) and at most
    /// 1,000 characters.
    /// </summary>
    public static string? Kept(string? value) => StoredText.Kept(value, 1000);

    /// <summary>An action of the caller of <paramref name="http"/>: its token's name, its address, its correlation id.</summary>
    public static AuditEntry Of(HttpContext http, string action, string target, string? detail = null) => new(
        http.Actor(), OnBehalfOfHeader(http), action, target, TokenAuth.IsConsole(http.Request) ? "console" : "http",
        ClientAddress(http), http.Response.Headers[Hosting.CorrelationId.Header].FirstOrDefault() ?? http.Request.Headers[Hosting.CorrelationId.Header].FirstOrDefault(),
        detail);

    /// <summary>What the caller says it acts for (<c>X-Requested-By</c>): kept beside the actor, never instead of it.</summary>
    public static string? OnBehalfOfHeader(HttpContext http) =>
        http.Request.Headers["X-Requested-By"].FirstOrDefault() is { Length: > 0 and <= 200 } claimed && !claimed.Any(char.IsControl) ? claimed : null;

    // The address the gateway saw (its X-Forwarded-For, which it sets rather than passes on), else the connection's.
    private static string? ClientAddress(HttpContext http) =>
        http.Request.Headers["X-Forwarded-For"].FirstOrDefault()?.Split(',')[0].Trim() is { Length: > 0 and <= 64 } forwarded
            ? forwarded
            : http.Connection.RemoteIpAddress?.ToString();
}

/// <summary>An entry as it was recorded.</summary>
public sealed record AuditRecord(long Id, DateTimeOffset At, string Actor, string? OnBehalfOf, string Action, string Target, string Via,
    string? Address, string? CorrelationId, string? Detail);

/// <summary>
/// The audit trail of operator actions (<c>audit.entries</c>, beside the read models): every service that takes such an
/// action appends to it, the monitor reads it (<c>GET /api/audit</c>). Append-only: a trigger refuses every update,
/// delete and truncate, whoever asks.
/// </summary>
public sealed class AuditLog(NpgsqlDataSource dataSource)
{
    /// <summary>The insert with positional parameters (actor, on behalf of, action, target, via, address, correlation id, detail), for a command queued in another unit of work.</summary>
    public const string InsertSql = """
        insert into audit.entries (actor, on_behalf_of, action, target, via, address, correlation_id, detail)
        values (?, ?, ?, ?, ?, ?, ?, ?)
        """;

    public async Task EnsureSchemaAsync(CancellationToken cancellationToken)
    {
        const string Sql = """
            select pg_advisory_xact_lock(hashtext('audit.entries'));
            create schema if not exists audit;
            create table if not exists audit.entries (
                id bigint generated always as identity primary key,
                at timestamptz not null default clock_timestamp(),
                actor text not null,
                on_behalf_of text,
                action text not null,
                target text not null,
                via text not null,
                address text,
                correlation_id text,
                detail text);
            create index if not exists entries_actor on audit.entries (actor, id);
            create index if not exists entries_action on audit.entries (action, id);
            create or replace function audit.append_only() returns trigger language plpgsql as $$
            begin
                raise exception 'audit.entries is append-only: % refused', tg_op;
            end $$;
            create or replace trigger entries_append_only before update or delete on audit.entries
                for each row execute function audit.append_only();
            create or replace trigger entries_no_truncate before truncate on audit.entries
                for each statement execute function audit.append_only();
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(Sql, connection, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    public async Task RecordAsync(AuditEntry entry, CancellationToken cancellationToken)
    {
        await using var command = Insert(dataSource.CreateCommand(), entry);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// The insert of <see cref="RecordAsync"/> inside a transaction that is rolled back: the first action after a start
    /// does not pay for that code path inside its deadline, and the trail keeps nothing of it.
    /// </summary>
    public async Task WarmUpAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var command = Insert(connection.CreateCommand(),
            AuditEntry.Of(new DefaultHttpContext(), "warm-up", "warm-up"));
        command.Transaction = transaction;
        await command.ExecuteNonQueryAsync(cancellationToken);
        await transaction.RollbackAsync(cancellationToken);
    }

    private static NpgsqlCommand Insert(NpgsqlCommand command, AuditEntry entry)
    {
        command.CommandText = """
            insert into audit.entries (actor, on_behalf_of, action, target, via, address, correlation_id, detail)
            values (@actor, @behalf, @action, @target, @via, @address, @correlation, @detail)
            """;
        command.Parameters.AddWithValue("actor", AuditEntry.Kept(entry.Actor)!);
        command.Parameters.Add(new NpgsqlParameter<string?>("behalf", AuditEntry.Kept(entry.OnBehalfOf)));
        command.Parameters.AddWithValue("action", AuditEntry.Kept(entry.Action)!);
        command.Parameters.AddWithValue("target", AuditEntry.Kept(entry.Target)!);
        command.Parameters.AddWithValue("via", entry.Via);
        command.Parameters.Add(new NpgsqlParameter<string?>("address", AuditEntry.Kept(entry.Address)));
        command.Parameters.Add(new NpgsqlParameter<string?>("correlation", AuditEntry.Kept(entry.CorrelationId)));
        command.Parameters.Add(new NpgsqlParameter<string?>("detail", AuditEntry.Kept(entry.Detail)));
        return command;
    }

    /// <summary>Newest first, after <paramref name="before"/> (an id of the previous page) when given.</summary>
    public async Task<IReadOnlyList<AuditRecord>> ListAsync(string? actor, string? action, DateTimeOffset? from, DateTimeOffset? to, int limit,
        long? before, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            select id, at, actor, on_behalf_of, action, target, via, address, correlation_id, detail from audit.entries
            where (@actor::text is null or actor = @actor) and (@action::text is null or action = @action)
              and (@from::timestamptz is null or at >= @from) and (@to::timestamptz is null or at <= @to)
              and (@before::bigint is null or id < @before)
            order by id desc limit @limit
            """);
        command.Parameters.Add(new NpgsqlParameter<string?>("actor", actor));
        command.Parameters.Add(new NpgsqlParameter<string?>("action", action));
        // PostgreSQL takes instants in UTC only: 2026-12-31T00:00:00+01:00 is that instant.
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset?>("from", from?.ToUniversalTime()));
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset?>("to", to?.ToUniversalTime()));
        command.Parameters.Add(new NpgsqlParameter<long?>("before", before));
        command.Parameters.AddWithValue("limit", limit);
        var records = new List<AuditRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            records.Add(new AuditRecord(reader.GetInt64(0), reader.GetFieldValue<DateTimeOffset>(1), reader.GetString(2), Text(reader, 3),
                reader.GetString(4), reader.GetString(5), reader.GetString(6), Text(reader, 7), Text(reader, 8), Text(reader, 9)));
        }

        return records;
    }

    private static string? Text(NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);
}
