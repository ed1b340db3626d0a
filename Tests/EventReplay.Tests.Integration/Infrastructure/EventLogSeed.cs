using Npgsql;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>
/// Appends a large history straight into the producer's event tables in one transaction, as the producer would have
/// written it (interleaved accounts: every account's version 1, then every account's version 2, ...), holding the
/// append lock like an append does, so readers of the log see all of it or none of it. For tests that need tens of
/// thousands of events without waiting for the HTTP API to write them one by one.
/// </summary>
public static class EventLogSeed
{
    // The producer's shared append lock (see AppendLock.Key).
    private const long AppendLockKey = 0x4556_5241_5050_4E44;

    /// <summary>Seeds <paramref name="accounts"/> accounts of <paramref name="eventsPerAccount"/> events; returns their ids.</summary>
    public static async Task<IReadOnlyList<string>> SeedAsync(string postgres, int accounts, int eventsPerAccount)
    {
        var prefix = $"seed-{Guid.NewGuid():N}"[..17];
        await using var connection = new NpgsqlConnection(postgres);
        await connection.OpenAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await using var command = new NpgsqlCommand(
            """
            select pg_advisory_xact_lock_shared(@lock);
            insert into producer.mt_streams (id, type, version, timestamp, created)
                select @prefix || '-' || a, 'account', @events, now(), now() from generate_series(1, @accounts) a;
            insert into producer.mt_events (seq_id, id, stream_id, version, data, type, timestamp, mt_dotnet_type)
                select nextval('producer.mt_events_sequence'), gen_random_uuid(), s.stream, s.v,
                    case when s.v = 1 then jsonb_build_object('accountId', s.stream, 'owner', 'Seed')
                         else jsonb_build_object('accountId', s.stream, 'amount', case when s.v % 5 = 0 then 1.00 else 10.00 end) end,
                    case when s.v = 1 then 'AccountOpened' when s.v % 5 = 0 then 'FundsWithdrawn' else 'FundsDeposited' end,
                    now(),
                    case when s.v = 1 then 'EventReplay.Contracts.Accounts.AccountOpened, EventReplay.Contracts'
                         when s.v % 5 = 0 then 'EventReplay.Contracts.Accounts.FundsWithdrawn, EventReplay.Contracts'
                         else 'EventReplay.Contracts.Accounts.FundsDeposited, EventReplay.Contracts' end
                from (select @prefix || '-' || a as stream, v from generate_series(1, @events) v, generate_series(1, @accounts) a
                      order by v, a) s;
            """, connection, transaction);
        command.Parameters.AddWithValue("lock", AppendLockKey);
        command.Parameters.AddWithValue("prefix", prefix);
        command.Parameters.AddWithValue("accounts", accounts);
        command.Parameters.AddWithValue("events", (long)eventsPerAccount);
        command.CommandTimeout = 120;
        await command.ExecuteNonQueryAsync();
        await transaction.CommitAsync();
        return [.. Enumerable.Range(1, accounts).Select(a => $"{prefix}-{a}")];
    }
}
