using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;

namespace EventReplay.Benchmarks;

/// <summary>
/// A rebuild of one consumer's read model through the running system: history is seeded straight into the event
/// tables (interleaved accounts, the live mix: opened, deposits, every fifth a withdrawal), then
/// <c>POST /api/replays</c> rebuilds the target while CPU and resident memory of every process are sampled.
/// </summary>
public static class Rebuild
{
    private const long AppendLockKey = 0x4556_5241_5050_4E44;

    public sealed record Result(long Events, double Seconds, double EventsPerSecond, IReadOnlyDictionary<string, double> CpuSeconds,
        IReadOnlyDictionary<string, double> PeakMiB);

    /// <summary>Adds events so the log holds <paramref name="total"/> over <paramref name="accounts"/> accounts; returns events/s.</summary>
    public static async Task<double> SeedAsync(string postgres, long total, int accounts)
    {
        await using var dataSource = NpgsqlDataSource.Create(postgres);
        await using var count = dataSource.CreateCommand("select count(*) from producer.mt_events");
        var have = (long)(await count.ExecuteScalarAsync())!;
        var clock = Stopwatch.StartNew();
        // Versions are added a slice at a time: every account's version v, then every account's v+1, ...
        for (var from = have / accounts + 1; from <= total / accounts; from += 10)
        {
            var to = Math.Min(from + 9, total / accounts);
            await using var connection = await dataSource.OpenConnectionAsync();
            await using var transaction = await connection.BeginTransactionAsync();
            await using var command = new NpgsqlCommand(
                """
                select pg_advisory_xact_lock_shared(@lock);
                insert into producer.mt_streams (id, type, version, timestamp, created)
                    select 'bench-' || a, 'account', @to, now(), now() from generate_series(1, @accounts) a
                    on conflict (id) do update set version = excluded.version;
                insert into producer.mt_events (seq_id, id, stream_id, version, data, type, timestamp, mt_dotnet_type)
                    select nextval('producer.mt_events_sequence'), gen_random_uuid(), s.stream, s.v,
                        case when s.v = 1 then jsonb_build_object('accountId', s.stream, 'owner', 'Bench')
                             else jsonb_build_object('accountId', s.stream, 'amount', case when s.v % 5 = 0 then 1.00 else 10.00 end) end,
                        case when s.v = 1 then 'AccountOpened' when s.v % 5 = 0 then 'FundsWithdrawn' else 'FundsDeposited' end,
                        now(), null
                    from (select 'bench-' || a as stream, v from generate_series(@from, @to) v, generate_series(1, @accounts) a
                          order by v, a) s;
                """, connection, transaction);
            command.Parameters.AddWithValue("lock", AppendLockKey);
            command.Parameters.AddWithValue("accounts", accounts);
            command.Parameters.AddWithValue("from", from);
            command.Parameters.AddWithValue("to", to);
            command.CommandTimeout = 600;
            await command.ExecuteNonQueryAsync();
            await transaction.CommitAsync();
        }

        await using var vacuum = dataSource.CreateCommand("analyze producer.mt_events");
        await vacuum.ExecuteNonQueryAsync();
        return (total - have) / clock.Elapsed.TotalSeconds;
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

    public static async Task<Result> RunAsync(Uri api, string postgres, string target, int batchSize)
    {
        using var http = new HttpClient { BaseAddress = api, Timeout = TimeSpan.FromSeconds(30) };
        // A client's id makes the request safe to retry after a 503, as any client should.
        var id = $"bench-{Guid.NewGuid():N}";
        for (var attempt = 1; ; attempt++)
        {
            using var started = await http.PostAsJsonAsync("/api/replays", new { replayId = id, target, mode = "rebuild", batchSize, reason = "benchmark" });
            if (started.IsSuccessStatusCode)
            {
                break;
            }

            var body = await started.Content.ReadAsStringAsync();
            if ((int)started.StatusCode != 503 || attempt == 5)
            {
                throw new InvalidOperationException($"The rebuild was refused: {body}");
            }

            Console.Error.WriteLine($"rebuild: POST /api/replays answered 503, retrying: {body}");
            await Task.Delay(TimeSpan.FromSeconds(1)); // Retry-After
        }

        var cpu = ProcessCpu.Start();
        var peak = new Dictionary<string, double>();
        while (true)
        {
            foreach (var (role, mib) in ProcessCpu.ResidentMiB())
            {
                peak[role] = Math.Max(peak.GetValueOrDefault(role), mib);
            }

            var replay = await http.GetFromJsonAsync<JsonElement>($"/api/replays/{id}");
            var status = replay.GetProperty("status").GetString();
            if (status is "failed" or "cancelled")
            {
                throw new InvalidOperationException($"The rebuild ended {status}: {replay}");
            }

            if (status == "completed")
            {
                var seconds = (replay.GetProperty("completedAt").GetDateTimeOffset() - replay.GetProperty("startedAt").GetDateTimeOffset()).TotalSeconds;
                var events = replay.GetProperty("eventsTotal").GetInt64();
                return new Result(events, seconds, events / seconds, cpu.Elapsed(), peak);
            }

            await Task.Delay(250); // sampling interval
        }
    }

    /// <summary>
    /// The rebuilt balances equal a SQL fold of the events table (count of accounts and sum of balances), once live
    /// events written during the rebuild have been applied (waits up to 60 s for that).
    /// </summary>
    public static async Task<bool> VerifyAsync(string postgres, string target)
    {
        var deadline = Stopwatch.StartNew();
        while (!await MatchesAsync(postgres, target))
        {
            if (deadline.Elapsed > TimeSpan.FromSeconds(60))
            {
                return false;
            }

            await Task.Delay(500); // the live consumer catching up
        }

        return true;
    }

    private static async Task<bool> MatchesAsync(string postgres, string target)
    {
        if (target != "balances")
        {
            return true;
        }

        await using var dataSource = NpgsqlDataSource.Create(postgres);
        await using var command = dataSource.CreateCommand(
            """
            select (select count(*) from balances.accounts) = (select count(*) from producer.mt_streams)
               and (select coalesce(sum(balance), 0) from balances.accounts) = (select coalesce(sum(case type
                       when 'FundsDeposited' then (data ->> 'amount')::numeric
                       when 'FundsWithdrawn' then -(data ->> 'amount')::numeric else 0 end), 0) from producer.mt_events)
            """);
        return (bool)(await command.ExecuteScalarAsync())!;
    }
}
