using EventReplay.Tests.Integration.Pipeline;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>
/// The checks every fault scenario ends with, once the pipeline has drained (<see cref="InvariantChecks"/>, asserted):
/// acknowledged commands lost = 0, effects applied twice = 0, every read model equals the fold of the log, the cache
/// holds no version older than PostgreSQL's; and no read the clients made went back in version.
/// </summary>
public static class Invariants
{
    public static async Task AssertAllAsync(ProducerApi api, Ledger ledger, SystemDatabases databases, string redis)
    {
        var found = InvariantChecks.CheckLedger(await api.AllEventsAsync(), ledger);
        Assert.Multiple(() =>
        {
            Assert.That(found.Lost, Is.Empty, $"acknowledged commands missing from the log ({found.Acknowledged} acknowledged)");
            Assert.That(found.AppendedTwice, Is.Empty, "events appended twice for one command");
            Assert.That(found.ReadsGoneBack, Is.Empty, $"reads that went back in version ({found.Reads} reads)");
        });

        // Applied twice on the read side: a double-applied event makes a balance or a count differ from the fold.
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(api, databases);
        var cached = await AssertCacheNotBehindAsync(databases.ReadModels, redis);
        await TestContext.Out.WriteLineAsync(
            $"invariants hold: {found.Acknowledged} acknowledged commands all in the log of {found.LogEvents} events, none appended twice; "
            + $"read models equal the fold; {cached} cache entries none older than PostgreSQL; {found.Reads} reads, none went back");
    }

    /// <summary>
    /// Every balance in the live cache generation is at PostgreSQL's version (never older), and so are the totals;
    /// returns how many entries were compared.
    /// </summary>
    public static async Task<int> AssertCacheNotBehindAsync(string readModels, string redis) =>
        (await InvariantChecks.CacheNotBehindAsync(readModels, redis, LivePipelineTests.Settle)).Compared;
}
