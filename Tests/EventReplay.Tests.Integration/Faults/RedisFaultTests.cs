using System.Diagnostics;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Faults;

/// <summary>Redis (the read models' cache) restarted empty under load; the server is the fixture's own.</summary>
public class RedisFaultTests
{
    private static readonly TimeSpan Recover = TimeSpan.FromMinutes(2);

    private readonly RedisInstance _redis = new();
    private ServiceStack _stack = null!;

    private static SystemDatabases Databases => TestEnvironment.Databases;

    private static string EventStore => TestEnvironment.EventStoreConnectionString;

    private static string ReadModels => TestEnvironment.ReadModelsConnectionString;

    private ProducerApi Api => _stack.Api;

    [OneTimeSetUp]
    public async Task StartTheSystemOnARedisOfItsOwn()
    {
        await PipelineState.ResetWithEmptyLogAsync(Databases, TestEnvironment.RedisConnectionString);
        await _redis.StartAsync();
        _stack = await ServiceStack.StartedAsync(redis: _redis.ConnectionString);
    }

    [OneTimeTearDown]
    public async Task StopTheSystem()
    {
        if (_stack is not null)
        {
            await _stack.DisposeAsync();
        }

        await _redis.DisposeAsync();
        await PipelineState.ResetWithEmptyLogAsync(Databases, TestEnvironment.RedisConnectionString);
    }

    [Test]
    public async Task Redis_restarted_empty_under_load_makes_no_read_go_back_and_no_cache_entry_fall_behind()
    {
        await using var load = CommandLoad.Start(Api);
        await load.WaitForMoreAsync(200, "the load under way");
        await FaultRecovery.CatchUpAsync(Databases, Recover);
        var cachedBefore = await Invariants.AssertCacheNotBehindAsync(ReadModels, _redis.ConnectionString);

        var down = Stopwatch.StartNew();
        _redis.KillAndForget();
        await load.WaitForMoreAsync(100, "commands answered while Redis is away");
        await _redis.StartAsync();
        var downFor = down.Elapsed;
        var recovered = await FaultRecovery.CatchUpAsync(Databases, Recover);
        await load.StopAsync();

        await TestContext.Out.WriteLineAsync($"Redis away for {downFor.TotalSeconds:0.0} s and back empty ({cachedBefore} entries "
            + $"cached before); consumers caught up {recovered.TotalSeconds:0.0} s after its return; {load.Describe()}");
        await Invariants.AssertAllAsync(Api, load.Ledger, Databases, _redis.ConnectionString);
    }
}
