using System.Diagnostics;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Faults;

/// <summary>
/// A rebuild of 100,000 events whose consumer (balances) is killed with SIGKILL mid-way and kept down for a minute,
/// under load; a fixture of its own, so no other scenario works over its history.
/// </summary>
public class ConsumerDownDuringRebuildTests
{
    private static readonly TimeSpan Recover = TimeSpan.FromMinutes(3);

    private ServiceStack _stack = null!;

    private static SystemDatabases Databases => TestEnvironment.Databases;

    private static string EventStore => TestEnvironment.EventStoreConnectionString;

    private static string ReadModels => TestEnvironment.ReadModelsConnectionString;

    private static string Redis => TestEnvironment.RedisConnectionString;

    private ProducerApi Api => _stack.Api;

    [OneTimeSetUp]
    public async Task StartTheSystemOverAnEmptyLog()
    {
        await PipelineState.ResetWithEmptyLogAsync(Databases, Redis);
        _stack = await ServiceStack.StartedAsync();
    }

    [OneTimeTearDown]
    public async Task StopTheSystem()
    {
        if (_stack is not null)
        {
            await _stack.DisposeAsync();
        }

        // Later fixtures that republish the log do not get these 100,000 events.
        await PipelineState.ResetWithEmptyLogAsync(Databases, Redis);
    }

    [Test]
    public async Task A_rebuild_of_100000_events_to_a_consumer_down_for_a_minute_completes_and_loses_nothing()
    {
        var seeding = Stopwatch.StartNew();
        await EventLogSeed.SeedAsync(EventStore, accounts: 10_000, eventsPerAccount: 10);
        var seeded = seeding.Elapsed;
        var live = await FaultRecovery.CatchUpAsync(Databases, TimeSpan.FromMinutes(5));
        var generation = await Database.ScalarAsync(ReadModels, "select generation from balances.meta");
        await using var load = CommandLoad.Start(Api);
        await load.WaitForMoreAsync(100, "the load under way");

        var id = await ReplayApi.StartAsync(Api, """{"target":"balances","mode":"rebuild","reason":"fault suite"}""");
        await ReplayApi.WaitUntilAsync(Api, id, r => r.GetProperty("eventsApplied").GetInt64() >= 20_000, "the rebuild to be under way");
        _stack.Balances.Kill();
        var down = Stopwatch.StartNew();
        // Down for the minute the scenario demands: holding the outage open is the scenario, not synchronisation. The
        // replay is watched meanwhile: it re-sends unanswered batches and must not give up on a consumer gone this long.
        while (down.Elapsed < TimeSpan.FromMinutes(1))
        {
            var status = (await ReplayApi.ShowAsync(Api, id))?.GetProperty("status").GetString();
            Assert.That(status, Is.EqualTo("running"), $"the rebuild while its consumer is down ({down.Elapsed.TotalSeconds:0} s)");
            await Task.Delay(TimeSpan.FromSeconds(1)); // pacing of the watch above
        }

        var (downFor, replay, ended, recovered) = await FaultRecovery.ConsumerBackAsync(_stack.Balances, down, Api, id, load, Databases, Recover);

        await TestContext.Out.WriteLineAsync($"seeded 100,000 events in {seeded.TotalSeconds:0.0} s, applied live in {live.TotalSeconds:0.0} s; "
            + $"consumer down {downFor.TotalSeconds:0.0} s (kill -9 to ready again); rebuild {replay.GetProperty("status")} "
            + $"{ended.TotalSeconds:0.0} s after the kill ({replay.GetProperty("eventsTotal")} events, {replay.GetProperty("eventsSent")} sent, "
            + $"{replay.GetProperty("eventsApplied")} applied, {replay.GetProperty("eventsSkipped")} skipped, "
            + $"{replay.GetProperty("eventsPerSecond").GetDouble():0} events/s overall); consumers caught up {recovered.TotalSeconds:0.0} s after; "
            + load.Describe());
        Assert.That(replay.GetProperty("status").GetString(), Is.EqualTo("completed"), replay.ToString());
        await ReplayApi.AssertRebuildEndedAsync(replay, ReadModels, generation);
        await Invariants.AssertAllAsync(Api, load.Ledger, Databases, Redis);
    }
}
