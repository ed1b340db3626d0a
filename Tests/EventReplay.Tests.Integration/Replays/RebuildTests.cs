using System.Collections.Concurrent;
using System.Net;
using EventReplay.Tests.Integration.Infrastructure;
using EventReplay.Tests.Integration.Pipeline;
using Npgsql;

namespace EventReplay.Tests.Integration.Replays;

/// <summary>
/// Rebuilds with zero downtime, against the whole system: the consumer fills a fresh copy of its read model while the
/// live copy keeps serving and applying live events, then swaps them; reads never fail and never go back in version.
/// </summary>
public class RebuildTests : StackOverEmptyLog
{
    [Test]
    public async Task A_rebuild_repairs_a_damaged_read_model_and_cache()
    {
        var ids = await ReplayApi.MakeHistoryAsync(Api, accounts: 3, deposits: 3);
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(Api, Databases);
        var generation = await Database.ScalarAsync(ReadModels, "select generation from balances.meta");
        await using (var connection = new NpgsqlConnection(ReadModels))
        {
            await connection.OpenAsync();
            await Database.ExecuteAsync(connection, $"update balances.accounts set balance = balance + 1000 where account_id = '{ids[0]}'");
            await Database.ExecuteAsync(connection, $"delete from balances.accounts where account_id = '{ids[1]}'");
        }

        await ReplayApi.DeleteCachedAsync(TestEnvironment.RedisConnectionString,
            [await ReplayApi.BalanceCacheKeyAsync(ReadModels, ids[0]), await ReplayApi.BalanceCacheKeyAsync(ReadModels, ids[2])]);

        var replay = await ReplayApi.StartAndFinishAsync(Api, """{"target":"balances","mode":"rebuild","reason":"damaged by hand"}""");

        Assert.Multiple(async () =>
        {
            Assert.That(replay.GetProperty("status").GetString(), Is.EqualTo("completed"), replay.ToString());
            Assert.That(replay.GetProperty("eventsApplied").GetInt64(), Is.GreaterThanOrEqualTo(12));
            Assert.That(await Database.ScalarAsync(ReadModels, "select generation from balances.meta"), Is.EqualTo(generation + 1));
            Assert.That(await Database.ScalarAsync(ReadModels, "select count(*) from pg_namespace where nspname in ('balances_rebuild', 'balances_retired')"),
                Is.Zero, "the old copy is dropped");
        });
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(Api, Databases);
        var damaged = await LivePipelineTests.GetAccountAsync(Api, ids[0]);
        Assert.That(damaged?.GetProperty("balance").GetDecimal(), Is.EqualTo(1.50m + 2.50m + 3.50m), "served from the new cache generation");
    }

    [Test]
    public async Task Reads_never_fail_or_go_back_while_a_rebuild_of_50000_events_runs_under_live_traffic()
    {
        var seeded = await EventLogSeed.SeedAsync(EventStore, accounts: 5_000, eventsPerAccount: 10);
        var live = await ReplayApi.MakeHistoryAsync(Api, accounts: 4, deposits: 1);
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(Api, Databases);

        using var stop = new CancellationTokenSource();
        var watched = seeded.Take(20).Concat(live).ToList();
        var failures = new ConcurrentQueue<string>();
        var reads = 0;
        var commands = 0;
        var reader = Task.Run(async () =>
        {
            var seen = watched.ToDictionary(id => id, _ => 0L);
            while (!stop.IsCancellationRequested)
            {
                foreach (var id in watched)
                {
                    using var response = await Api.Http.GetAsync(new Uri($"/api/accounts/{id}", UriKind.Relative));
                    Interlocked.Increment(ref reads);
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        failures.Enqueue($"{id}: {(int)response.StatusCode}");
                        continue;
                    }

                    var version = (await ProducerApi.BodyAsync(response, 200)).GetProperty("version").GetInt64();
                    if (version < seen[id])
                    {
                        failures.Enqueue($"{id}: version {version} after {seen[id]}");
                    }

                    seen[id] = Math.Max(seen[id], version);
                }
            }
        });
        var writer = Task.Run(async () =>
        {
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                using var deposit = await Api.DepositAsync(live[n % live.Count], "1");
                Assert.That((int)deposit.StatusCode, Is.EqualTo(200));
                Interlocked.Increment(ref commands);
            }
        });

        var replay = await ReplayApi.StartAndFinishAsync(Api, """{"target":"balances","mode":"rebuild","batchSize":1000}""");
        await stop.CancelAsync();
        await Task.WhenAll(reader, writer);

        Assert.Multiple(() =>
        {
            Assert.That(replay.GetProperty("status").GetString(), Is.EqualTo("completed"), replay.ToString());
            Assert.That(replay.GetProperty("eventsTotal").GetInt64(), Is.GreaterThanOrEqualTo(50_000));
            Assert.That(failures, Is.Empty, $"{reads} reads during the rebuild");
            Assert.That(commands, Is.GreaterThan(0), "live commands flowed during the rebuild");
        });
        TestContext.Out.WriteLine($"rebuild: {replay.GetProperty("eventsTotal").GetInt64()} events at {replay.GetProperty("eventsPerSecond").GetDouble()} events/s; {reads} reads and {commands} commands meanwhile");
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(Api, Databases);
    }

    [TestCase("consumer")]
    [TestCase("replay service")]
    public async Task A_rebuild_survives_a_kill_9_of_the(string victim)
    {
        await EventLogSeed.SeedAsync(EventStore, accounts: 2_000, eventsPerAccount: 10);
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(Api, Databases);
        var id = await ReplayApi.StartAsync(Api, """{"target":"balances","mode":"rebuild","maxEventsPerSecond":5000}""");
        await ReplayApi.WaitUntilAsync(Api, id, r => r.GetProperty("eventsApplied").GetInt64() >= 5_000, "the rebuild to be well under way");

        var process = victim == "consumer" ? Stack.Balances : Stack.Replay;
        process.Kill();
        await process.StartAsync();

        var replay = await ReplayApi.WaitForEndAsync(Api, id);
        Assert.That(replay.GetProperty("status").GetString(), Is.EqualTo("completed"), replay.ToString());
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(Api, Databases);
    }

    [Test]
    public async Task Pause_stops_sending_and_resume_carries_on_to_the_end()
    {
        // 2,000 events at 400 a second: still running when paused.
        await EventLogSeed.SeedAsync(EventStore, accounts: 200, eventsPerAccount: 10);
        using var plan = await Api.PostJsonAsync("/api/replays/dry-run", """{"target":"statistics","mode":"redeliver"}""");
        var from = Math.Max(1, (await ProducerApi.BodyAsync(plan, 200)).GetProperty("toPosition").GetInt64() - 1_999);
        var id = await ReplayApi.StartAsync(Api,
            $$"""{"target":"statistics","mode":"redeliver","fromPosition":{{from}},"batchSize":20,"maxEventsPerSecond":400}""");
        await ReplayApi.WaitUntilAsync(Api, id, r => r.GetProperty("eventsSent").GetInt64() > 0, "the replay to send");

        await ReplayApi.ControlAsync(Api, id, "pause");
        var paused = await ReplayApi.WaitUntilAsync(Api, id,
            r => r.GetProperty("status").GetString() == "paused" && r.GetProperty("eventsSent").GetInt64()
                == r.GetProperty("eventsApplied").GetInt64() + r.GetProperty("eventsSkipped").GetInt64(),
            "the paused replay's batches in flight to be answered");
        var sent = paused.GetProperty("eventsSent").GetInt64();
        // Watch the paused replay for a while: nothing more may be sent.
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(2))
        {
            Assert.That((await ReplayApi.ShowAsync(Api, id))?.GetProperty("eventsSent").GetInt64(), Is.EqualTo(sent), "sent while paused");
        }

        await ReplayApi.ControlAsync(Api, id, "resume");
        var replay = await ReplayApi.WaitForEndAsync(Api, id);
        Assert.Multiple(() =>
        {
            Assert.That(replay.GetProperty("status").GetString(), Is.EqualTo("completed"));
            Assert.That(replay.GetProperty("eventsSent").GetInt64(), Is.EqualTo(replay.GetProperty("eventsTotal").GetInt64()));
            Assert.That(sent, Is.LessThan(replay.GetProperty("eventsTotal").GetInt64()), "paused before the end");
        });
    }

    [Test]
    public async Task Cancel_drops_the_fresh_copy_and_leaves_the_live_copy_intact()
    {
        // Enough history that the throttled rebuild is still running when it is cancelled.
        await EventLogSeed.SeedAsync(EventStore, accounts: 200, eventsPerAccount: 10);
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(Api, Databases);
        var generation = await Database.ScalarAsync(ReadModels, "select generation from balances.meta");
        var id = await ReplayApi.StartAsync(Api, """{"target":"balances","mode":"rebuild","batchSize":10,"maxEventsPerSecond":20}""");
        await ReplayApi.WaitUntilAsync(Api, id, r => r.GetProperty("eventsApplied").GetInt64() > 0, "the rebuild to apply a batch");
        await Eventually.Until(() => Database.ScalarAsync(ReadModels, "select count(*) from pg_namespace where nspname = 'balances_rebuild'"),
            count => count == 1, ReplayApi.Finish, "the fresh copy to exist");

        await ReplayApi.ControlAsync(Api, id, "cancel");

        var replay = await ReplayApi.WaitForEndAsync(Api, id);
        await Eventually.Until(() => Database.ScalarAsync(ReadModels, "select count(*) from pg_namespace where nspname = 'balances_rebuild'"),
            count => count == 0, ReplayApi.Finish, "the fresh copy to be dropped");
        Assert.Multiple(async () =>
        {
            Assert.That(replay.GetProperty("status").GetString(), Is.EqualTo("cancelled"));
            Assert.That(await Database.ScalarAsync(ReadModels, "select generation from balances.meta"), Is.EqualTo(generation));
        });
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(Api, Databases);
    }

    [Test]
    public async Task A_second_rebuild_of_a_target_is_refused_while_one_runs_and_filters_are_refused()
    {
        await ReplayApi.MakeHistoryAsync(Api, accounts: 1, deposits: 1);
        var id = await ReplayApi.StartAsync(Api, """{"target":"statistics","mode":"rebuild","batchSize":1,"maxEventsPerSecond":5}""");

        using (var second = await Api.PostJsonAsync("/api/replays", """{"target":"statistics","mode":"rebuild"}"""))
        {
            await ProducerApi.BodyAsync(second, 409);
        }

        using (var filtered = await Api.PostJsonAsync("/api/replays", """{"target":"balances","mode":"rebuild","streamIds":["a"]}"""))
        {
            await ProducerApi.BodyAsync(filtered, 400);
        }

        await ReplayApi.ControlAsync(Api, id, "cancel");
        Assert.That((await ReplayApi.WaitForEndAsync(Api, id)).GetProperty("status").GetString(), Is.EqualTo("cancelled"));
    }

    [Test]
    public async Task A_statistics_rebuild_equals_the_fold()
    {
        await ReplayApi.MakeHistoryAsync(Api, accounts: 2, deposits: 2);
        await using (var connection = new NpgsqlConnection(ReadModels))
        {
            await connection.OpenAsync();
            await Database.ExecuteAsync(connection, "update statistics.totals set deposit_total = deposit_total + 999");
        }

        var replay = await ReplayApi.StartAndFinishAsync(Api, """{"target":"statistics","mode":"rebuild"}""");

        Assert.That(replay.GetProperty("status").GetString(), Is.EqualTo("completed"), replay.ToString());
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(Api, Databases);
    }
}
