using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;

namespace EventReplay.Benchmarks;

/// <summary>
/// A rebuild of one consumer's read model through the running system (history seeded by <see cref="Seed"/>):
/// <c>POST /api/replays</c> rebuilds the target while CPU and resident memory of every process are sampled.
/// </summary>
public static class Rebuild
{
    public sealed record Result(long Events, double Seconds, double EventsPerSecond, IReadOnlyDictionary<string, double> CpuSeconds,
        IReadOnlyDictionary<string, double> PeakMiB);

    public static async Task<Result> RunAsync(Uri api, string target, int batchSize)
    {
        using var http = ApiClient.Create(api);
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

            await Task.Delay(500); // sampling interval
        }
    }

    /// <summary>
    /// The rebuilt balances equal a SQL fold of the events table (count of accounts and sum of balances), once live
    /// events written during the rebuild have been applied (waits up to 60 s for that).
    /// </summary>
    public static async Task<bool> VerifyAsync(string eventStore, string readModels, string target)
    {
        var deadline = Stopwatch.StartNew();
        while (!await MatchesAsync(eventStore, readModels, target))
        {
            if (deadline.Elapsed > TimeSpan.FromSeconds(60))
            {
                return false;
            }

            await Task.Delay(500); // the live consumer catching up
        }

        return true;
    }

    private static async Task<bool> MatchesAsync(string eventStore, string readModels, string target)
    {
        if (target != "balances")
        {
            return true;
        }

        // The fold of the log in the event store, the read model in its own database: compared here.
        return await CountAndSumAsync(eventStore,
                """
                select (select count(*) from producer.mt_streams), (select coalesce(sum(case type
                    when 'FundsDeposited' then (data ->> 'amount')::numeric
                    when 'FundsWithdrawn' then -(data ->> 'amount')::numeric else 0 end), 0) from producer.mt_events)
                """)
            == await CountAndSumAsync(readModels, "select count(*), coalesce(sum(balance), 0) from balances.accounts");
    }

    private static async Task<(long Count, decimal Sum)> CountAndSumAsync(string connectionString, string sql)
    {
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        await using var command = dataSource.CreateCommand(sql);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetDecimal(1));
    }
}
