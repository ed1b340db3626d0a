using System.Diagnostics;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Faults;

/// <summary>
/// RabbitMQ killed with SIGKILL under load and mid-rebuild, and starved by a memory or disk alarm. The broker is a node
/// of the fixture's own (never the shared one); the whole system runs on it. Each scenario runs a
/// <see cref="CommandLoad"/> through the public API and ends with <see cref="Invariants.AssertAllAsync"/>.
/// </summary>
public class RabbitMqFaultTests
{
    private static readonly TimeSpan Recover = TimeSpan.FromMinutes(2);

    private readonly RabbitMqInstance _broker = new();
    private ServiceStack _stack = null!;

    private static SystemDatabases Databases => TestEnvironment.Databases;

    private static string EventStore => TestEnvironment.EventStoreConnectionString;

    private static string ReadModels => TestEnvironment.ReadModelsConnectionString;

    private static string Redis => TestEnvironment.RedisConnectionString;

    private ProducerApi Api => _stack.Api;

    [OneTimeSetUp]
    public async Task StartTheSystemOnABrokerOfItsOwn()
    {
        await PipelineState.ResetWithEmptyLogAsync(Databases, Redis);
        await _broker.StartAsync();
        _stack = await ServiceStack.StartedAsync(rabbitmq: _broker.ConnectionString);
    }

    [OneTimeTearDown]
    public async Task StopTheSystem()
    {
        if (_stack is not null)
        {
            await _stack.DisposeAsync();
        }

        await _broker.DisposeAsync();
        // Later fixtures that republish the log do not get this one's.
        await PipelineState.ResetWithEmptyLogAsync(Databases, Redis);
    }

    [Test]
    public async Task RabbitMQ_killed_with_kill_9_mid_burst_loses_nothing_and_the_pipeline_recovers_after_its_restart()
    {
        // A burst: twice the usual clients, unpaced, so the kill finds publishes unconfirmed and messages queued.
        await using var load = CommandLoad.Start(Api, workers: 8, pace: TimeSpan.Zero);
        await load.WaitForMoreAsync(300, "a burst under way");

        var down = Stopwatch.StartNew();
        await _broker.KillAsync();
        var behind = await FaultRecovery.BalancesLagAsync(Databases);
        var retriedBefore = load.RetriedAttempts;
        await load.WaitForMoreAsync(100, "commands answered while the broker is dead (the producer stores first, publishes later)");
        Assert.That(load.RetriedAttempts - retriedBefore, Is.Zero, "every command answered at once while the broker was dead");
        await _broker.StartAsync();
        var downFor = down.Elapsed;
        var recovered = await FaultRecovery.CatchUpAsync(Databases, Recover);
        await load.StopAsync();

        await TestContext.Out.WriteLineAsync($"broker dead for {downFor.TotalSeconds:0.0} s (kill -9 to restarted), balances "
            + $"{behind} events behind the log at the kill; consumers caught up {recovered.TotalSeconds:0.0} s after the restart; "
            + load.Describe());
        await Invariants.AssertAllAsync(Api, load.Ledger, Databases, Redis);
    }

    [TestCase("memory")]
    [TestCase("disk")]
    public async Task Under_a_RabbitMQ_resource_alarm_publishers_wait_commands_keep_answering_and_all_flows_when_it_clears(string alarm)
    {
        await using var load = CommandLoad.Start(Api);
        await load.WaitForMoreAsync(100, "the load under way");
        await FaultRecovery.CatchUpAsync(Databases, Recover);

        var raised = Stopwatch.StartNew();
        await (alarm == "memory" ? _broker.SetMemoryHighWatermarkAsync("absolute", "10MB") : _broker.SetDiskFreeLimitAsync("1000000000000000"));
        try
        {
            var alarms = await Eventually.Until(_broker.AlarmsAsync, found => found.Count > 0, TimeSpan.FromSeconds(30), $"a {alarm} alarm");
            var headAtAlarm = await Database.ScalarAsync(EventStore, "select coalesce(max(seq_id), 0) from producer.mt_events");
            var retriedBefore = load.RetriedAttempts;
            await load.WaitForMoreAsync(200, $"commands answered under the {alarm} alarm");
            var published = await Database.ScalarAsync(EventStore, "select position from producer.publisher_checkpoint");
            var head = await Database.ScalarAsync(EventStore, "select coalesce(max(seq_id), 0) from producer.mt_events");
            await TestContext.Out.WriteLineAsync($"{string.Join("; ", alarms)}: log head {headAtAlarm} -> {head} while the publisher's "
                + $"checkpoint stood at {published}; retried attempts meanwhile: {load.RetriedAttempts - retriedBefore}");
            Assert.Multiple(() =>
            {
                Assert.That(load.RetriedAttempts - retriedBefore, Is.Zero, "every command answered at once under the alarm");
                Assert.That(published, Is.LessThanOrEqualTo(headAtAlarm), "nothing appended after the alarm was published during it");
                // A command per worker may have committed before the head was read and been answered after: the rest
                // appended under the alarm.
                Assert.That(head, Is.GreaterThanOrEqualTo(headAtAlarm + 200 - new LoadOptions().Workers), "the log grew under the alarm");
            });
        }
        finally
        {
            await (alarm == "memory" ? _broker.SetMemoryHighWatermarkAsync("0.4") : _broker.SetDiskFreeLimitAsync("50MB"));
        }

        var alarmFor = raised.Elapsed;
        var recovered = await FaultRecovery.CatchUpAsync(Databases, Recover);
        Assert.That(await _broker.AlarmsAsync(), Is.Empty, $"the {alarm} alarm cleared");
        await load.StopAsync();

        await TestContext.Out.WriteLineAsync($"{alarm} alarm held {alarmFor.TotalSeconds:0.0} s; consumers caught up {recovered.TotalSeconds:0.0} s "
            + $"after it cleared; {load.Describe()}");
        await Invariants.AssertAllAsync(Api, load.Ledger, Databases, Redis);
    }

    [Test]
    public async Task RabbitMQ_killed_with_kill_9_mid_rebuild_the_rebuild_completes_and_loses_nothing()
    {
        await EventLogSeed.SeedAsync(EventStore, accounts: 2_000, eventsPerAccount: 10);
        await FaultRecovery.CatchUpAsync(Databases, Recover);
        var generation = await Database.ScalarAsync(ReadModels, "select generation from balances.meta");
        await using var load = CommandLoad.Start(Api);
        await load.WaitForMoreAsync(100, "the load under way");

        // Throttled so the kill lands mid-rebuild whatever the machine's speed.
        var id = await ReplayApi.StartAsync(Api, """{"target":"balances","mode":"rebuild","maxEventsPerSecond":2000,"reason":"fault suite"}""");
        await ReplayApi.WaitUntilAsync(Api, id, r => r.GetProperty("eventsApplied").GetInt64() >= 4_000, "the rebuild to be under way");
        var down = Stopwatch.StartNew();
        await _broker.KillAsync();
        await _broker.StartAsync();
        var downFor = down.Elapsed;
        var replay = await ReplayApi.WaitForEndAsync(Api, id, TimeSpan.FromMinutes(5));
        var ended = down.Elapsed;
        var recovered = await FaultRecovery.CatchUpAsync(Databases, Recover);
        await load.StopAsync();

        await TestContext.Out.WriteLineAsync($"broker dead for {downFor.TotalSeconds:0.0} s; rebuild {replay.GetProperty("status")} "
            + $"{ended.TotalSeconds:0.0} s after the kill ({replay.GetProperty("eventsTotal")} events, {replay.GetProperty("eventsSent")} sent, "
            + $"{replay.GetProperty("eventsApplied")} applied, {replay.GetProperty("eventsSkipped")} skipped); consumers caught up "
            + $"{recovered.TotalSeconds:0.0} s after that; {load.Describe()}");
        Assert.That(replay.GetProperty("status").GetString(), Is.EqualTo("completed"), replay.ToString());
        await ReplayApi.AssertRebuildEndedAsync(replay, ReadModels, generation);
        await Invariants.AssertAllAsync(Api, load.Ledger, Databases, Redis);
    }
}
