using System.Net;
using EventReplay.Contracts;
using EventReplay.Tests.Integration.Infrastructure;
using EventReplay.Tests.Integration.Pipeline;
using Npgsql;

namespace EventReplay.Tests.Integration.Replays;

/// <summary>
/// Rebuilds that meet the awkward moments: a live batch waiting for the read model while the cut-over swaps it, a
/// fresh copy left half-made by a crash, a replay-queue message that keeps failing.
/// </summary>
public class CutOverFaultTests : StackOverEmptyLog
{
    // The key space of the consumers' apply locks ("EVAP", ApplyLock.Space) and the waiting requests for the live copy's lock.
    private const string WaitingForBalances =
        """
        select count(*) from pg_locks
        where locktype = 'advisory' and classid = 1163280720 and not granted
          and objid::bigint = (hashtext('balances')::bigint + 4294967296) % 4294967296
        """;

    [Test]
    public async Task A_live_batch_that_waited_through_a_cut_over_writes_the_new_cache_generation()
    {
        var ids = await ReplayApi.MakeHistoryAsync(Api, accounts: 2, deposits: 2);
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(Api, Databases);

        string replayId;
        await using (var holder = new NpgsqlConnection(ReadModels))
        {
            // Hold the live copy's apply lock: the cut-over queues for it first, then a live batch behind it.
            await holder.OpenAsync();
            await using var transaction = await holder.BeginTransactionAsync();
            await Database.ExecuteAsync(holder, "select pg_advisory_xact_lock(1163280720, hashtext('balances'))");
            replayId = await ReplayApi.StartAsync(Api, """{"target":"balances","mode":"rebuild"}""");
            await Eventually.Until(() => Database.ScalarAsync(ReadModels, WaitingForBalances), waiting => waiting == 1, ReplayApi.Finish,
                "the cut-over to wait for the live copy");
            using (var deposit = await Api.DepositAsync(ids[0], "7"))
            {
                await ProducerApi.BodyAsync(deposit, 200);
            }

            await Eventually.Until(() => Database.ScalarAsync(ReadModels, WaitingForBalances), waiting => waiting == 2, LivePipelineTests.Settle,
                "the live batch to wait behind the cut-over");
            await transaction.CommitAsync();
        }

        var replay = await ReplayApi.WaitForEndAsync(Api, replayId);
        Assert.That(replay.GetProperty("status").GetString(), Is.EqualTo("completed"), replay.ToString());
        // The deposit is version 4 in PostgreSQL; the cache of the generation now serving must not hold version 3.
        var account = await Eventually.Until(() => LivePipelineTests.GetAccountAsync(Api, ids[0]),
            a => a?.GetProperty("version").GetInt64() == 4, LivePipelineTests.Settle, $"{ids[0]} to read at version 4");
        Assert.That(account?.GetProperty("balance").GetDecimal(), Is.EqualTo(1.50m + 2.50m + 7m));
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(Api, Databases);
    }

    [Test]
    public async Task A_rebuild_starts_over_a_fresh_copy_that_a_crash_left_without_its_meta_row()
    {
        await ReplayApi.MakeHistoryAsync(Api, accounts: 2, deposits: 1);
        await using (var connection = new NpgsqlConnection(ReadModels))
        {
            await connection.OpenAsync();
            await Database.ExecuteAsync(connection,
                "drop schema if exists balances_rebuild cascade; create schema balances_rebuild; create table balances_rebuild.accounts (account_id text)");
        }

        var replay = await ReplayApi.StartAndFinishAsync(Api, """{"target":"balances","mode":"rebuild","reason":"after a crash"}""");

        Assert.That(replay.GetProperty("status").GetString(), Is.EqualTo("completed"), replay.ToString());
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(Api, Databases);
    }

    [Test]
    public async Task A_replay_queue_message_that_keeps_failing_is_dead_lettered_and_the_queue_moves_on()
    {
        var ids = await ReplayApi.MakeHistoryAsync(Api, accounts: 1, deposits: 1);
        var replayId = $"poison-{Guid.NewGuid():N}";
        var generation = await Database.ScalarAsync(ReadModels, "select generation from balances.meta");
        await using (var connection = new NpgsqlConnection(ReadModels))
        {
            // A fresh copy that claims to be replay "poison"'s but has no tables: its cut-over fails on every attempt.
            await connection.OpenAsync();
            await Database.ExecuteAsync(connection,
                $"""
                drop schema if exists balances_rebuild cascade; create schema balances_rebuild;
                create table balances_rebuild.meta (id int primary key, generation int not null, replay_id text, apply_seq bigint not null default 0);
                insert into balances_rebuild.meta values (1, {generation + 1}, '{replayId}', 0);
                """);
        }

        await Broker.SendAsync(Topology.ReplayQueue("balances"), $$"""{"replayId":"{{replayId}}","target":"balances"}""", Topology.RebuildCutOverType);

        var dead = await CollectedFailures.NamingAsync(ReadModels, replayId, ReplayApi.Finish);
        Assert.Multiple(() =>
        {
            Assert.That(dead.Single().FoundIn, Is.EqualTo(Topology.DeadLetterQueue("balances")));
            Assert.That(dead.Single().Queue, Is.EqualTo(Topology.ReplayQueue("balances")), "the queue a retry sends it to");
            Assert.That(dead.Single().Reason, Does.Contain("after 5 attempts").And.Contain("42P01"));
        });

        await using (var connection = new NpgsqlConnection(ReadModels))
        {
            await connection.OpenAsync();
            await Database.ExecuteAsync(connection, "drop schema balances_rebuild cascade");
        }

        var after = await ReplayApi.StartAndFinishAsync(Api, $$"""{"target":"balances","mode":"redeliver","streamIds":["{{ids[0]}}"]}""");
        Assert.That(after.GetProperty("status").GetString(), Is.EqualTo("completed"), "the replay queue moved on: " + after);
        using var health = await Stack.Balances.CreateClient().GetAsync(new Uri("/health/ready", UriKind.Relative));
        Assert.That(health.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }
}
