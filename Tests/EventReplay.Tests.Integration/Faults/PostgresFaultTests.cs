using System.Diagnostics;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Faults;

/// <summary>
/// PostgreSQL (event store and read models) killed with SIGKILL while a rebuild's cut-over waits, under load. The
/// server, and the Redis beside it, are the fixture's own; the broker is the tests' vhost on the shared one.
/// </summary>
public class PostgresFaultTests
{
    private static readonly TimeSpan Recover = TimeSpan.FromMinutes(2);

    private readonly PostgresInstance _postgres = new();
    private readonly RedisInstance _redis = new();
    private ServiceStack _stack = null!;

    // One server holds both databases here: the kill takes the read models (where the cut-over waits) and the event store down together.
    private SystemDatabases Databases => SystemDatabases.OneServer(_postgres.ConnectionString);

    private string EventStore => _postgres.ConnectionString;

    private string ReadModels => _postgres.ConnectionString;

    private ProducerApi Api => _stack.Api;

    [OneTimeSetUp]
    public async Task StartTheSystemOnADatabaseOfItsOwn()
    {
        await _postgres.StartAsync();
        await _redis.StartAsync();
        await Broker.PurgeAsync();
        _stack = await ServiceStack.StartedAsync(EventStore, ReadModels, _redis.ConnectionString);
    }

    [OneTimeTearDown]
    public async Task StopTheSystem()
    {
        if (_stack is not null)
        {
            await _stack.DisposeAsync();
        }

        await _redis.DisposeAsync();
        await _postgres.DisposeAsync();
        await Broker.PurgeAsync();
    }

    [Test]
    public async Task PostgreSQL_killed_with_kill_9_while_a_cut_over_waits_leaves_the_rebuild_ended_and_loses_nothing()
    {
        await EventLogSeed.SeedAsync(EventStore, accounts: 500, eventsPerAccount: 10);
        await FaultRecovery.CatchUpAsync(Databases, Recover);
        var generation = await Database.ScalarAsync(ReadModels, "select generation from balances.meta");
        await using var load = CommandLoad.Start(Api);
        await load.WaitForMoreAsync(100, "the load under way");

        await using var hold = await ApplyLockHold.TakeAsync(ReadModels, "balances");
        var id = await ReplayApi.StartAsync(Api, """{"target":"balances","mode":"rebuild","reason":"fault suite"}""");
        await hold.WaitForCutOverAsync(id, ReplayApi.Finish);
        var down = Stopwatch.StartNew();
        await _postgres.Kill9Async();
        await _postgres.StartAsync();
        var downFor = down.Elapsed;
        var replay = await ReplayApi.WaitForEndAsync(Api, id, TimeSpan.FromMinutes(5));
        var ended = down.Elapsed;
        var recovered = await FaultRecovery.CatchUpAsync(Databases, Recover);
        await load.StopAsync();

        await TestContext.Out.WriteLineAsync($"PostgreSQL dead for {downFor.TotalSeconds:0.0} s (kill -9 to restarted); rebuild "
            + $"{replay.GetProperty("status")} {ended.TotalSeconds:0.0} s after the kill (error: {replay.GetProperty("error")}); consumers "
            + $"caught up {recovered.TotalSeconds:0.0} s after that; {load.Describe()}");
        await ReplayApi.AssertRebuildEndedAsync(replay, ReadModels, generation);
        await Invariants.AssertAllAsync(Api, load.Ledger, Databases, _redis.ConnectionString);
    }
}
