using System.Diagnostics;
using Npgsql;

namespace EventReplay.Benchmarks;

/// <summary>How accounts' events follow each other in the log.</summary>
public enum Layout
{
    /// <summary>Every account's version v, then every account's v+1: what steady live traffic writes.</summary>
    Interleaved,

    /// <summary>Runs of <see cref="Seed.RunLength"/> events of one account, accounts taking turns run by run.</summary>
    Runs,

    /// <summary>All of one account's events, then all of the next account's.</summary>
    Contiguous,
}

/// <summary>
/// History written straight into the producer's event tables with SQL, as the producer writes it (the DESIGN mix:
/// each account opened, then deposits with every fifth event a withdrawal), holding the append lock shared like an
/// append does. For benchmarks and tests that need far more events than the HTTP API would write in reasonable time.
/// </summary>
public static class Seed
{
    public const int RunLength = 5;

    // The producer's shared append lock (see AppendLock.Key).
    private const long AppendLockKey = 0x4556_5241_5050_4E44;

    // Events per transaction: large enough to be fast, small enough to keep one transaction's WAL and locks modest.
    private const int EventsPerTransaction = 250_000;

    /// <summary>
    /// Appends <paramref name="eventsPerAccount"/> events to each of <paramref name="accounts"/> new accounts
    /// <c>{prefix}-1..N</c>, in <paramref name="layout"/> order; returns the events written per second.
    /// </summary>
    public static async Task<double> AppendAsync(string postgres, string prefix, int accounts, int eventsPerAccount, Layout layout,
        string owner = "Bench")
    {
        // The sort key of the layout, cut into ranges of about EventsPerTransaction events.
        var (key, order, keyCount, eventsPerKey) = layout switch
        {
            Layout.Interleaved => ("v", "v, a", (long)eventsPerAccount, (long)accounts),
            Layout.Runs => ($"(v - 1) / {RunLength}", $"(v - 1) / {RunLength}, a, v", (eventsPerAccount + RunLength - 1L) / RunLength,
                (long)accounts * RunLength),
            Layout.Contiguous => ("a", "a, v", (long)accounts, (long)eventsPerAccount),
            _ => throw new ArgumentOutOfRangeException(nameof(layout)),
        };
        var keysPerTransaction = Math.Max(1, EventsPerTransaction / eventsPerKey);
        var first = layout == Layout.Runs ? 0 : 1;
        var clock = Stopwatch.StartNew();
        await using var dataSource = NpgsqlDataSource.Create(postgres);
        for (var low = (long)first; low < first + keyCount; low += keysPerTransaction)
        {
            await using var connection = await dataSource.OpenConnectionAsync();
            await using var transaction = await connection.BeginTransactionAsync();
            await using var command = new NpgsqlCommand(
                $"""
                select pg_advisory_xact_lock_shared(@lock);
                insert into producer.mt_streams (id, type, version, timestamp, created)
                    select @prefix || '-' || a, 'account', @events, now(), now() from generate_series(1, @accounts) a
                    where @low = @first
                    on conflict (id) do nothing;
                insert into producer.mt_events (seq_id, id, stream_id, version, data, type, timestamp, mt_dotnet_type)
                    select nextval('producer.mt_events_sequence'), gen_random_uuid(), s.stream, s.v,
                        case when s.v = 1 then jsonb_build_object('accountId', s.stream, 'owner', @owner::text)
                             else jsonb_build_object('accountId', s.stream, 'amount', case when s.v % 5 = 0 then 1.00 else 10.00 end) end,
                        case when s.v = 1 then 'AccountOpened' when s.v % 5 = 0 then 'FundsWithdrawn' else 'FundsDeposited' end,
                        now(),
                        case when s.v = 1 then 'EventReplay.Contracts.Accounts.AccountOpened, EventReplay.Contracts'
                             when s.v % 5 = 0 then 'EventReplay.Contracts.Accounts.FundsWithdrawn, EventReplay.Contracts'
                             else 'EventReplay.Contracts.Accounts.FundsDeposited, EventReplay.Contracts' end
                    from (select @prefix || '-' || a as stream, v from generate_series(1, @events) v, generate_series(1, @accounts) a
                          where {key} >= @low and {key} < @high
                          order by {order}) s;
                """, connection, transaction);
            command.Parameters.AddWithValue("lock", AppendLockKey);
            command.Parameters.AddWithValue("prefix", prefix);
            command.Parameters.AddWithValue("owner", owner);
            command.Parameters.AddWithValue("accounts", accounts);
            command.Parameters.AddWithValue("events", eventsPerAccount);
            command.Parameters.AddWithValue("first", (long)first);
            command.Parameters.AddWithValue("low", low);
            command.Parameters.AddWithValue("high", low + keysPerTransaction);
            command.CommandTimeout = 600;
            await command.ExecuteNonQueryAsync();
            await transaction.CommitAsync();
        }

        await using var analyze = dataSource.CreateCommand("analyze producer.mt_events");
        await analyze.ExecuteNonQueryAsync();
        return (long)accounts * eventsPerAccount / clock.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// Moves the producer's publishing checkpoint to the end of the log (the system must be stopped), so seeded
    /// history is not published to the live queues when the system starts again with publishing on.
    /// </summary>
    public static async Task SkipPublishingAsync(string postgres)
    {
        await using var dataSource = NpgsqlDataSource.Create(postgres);
        await using var command = dataSource.CreateCommand(
            """
            create table if not exists producer.publisher_checkpoint (
                id int primary key check (id = 1), position bigint not null, updated_at timestamptz not null);
            insert into producer.publisher_checkpoint values (1, (select coalesce(max(seq_id), 0) from producer.mt_events), now())
            on conflict (id) do update set position = excluded.position, updated_at = now();
            """);
        await command.ExecuteNonQueryAsync();
    }
}
