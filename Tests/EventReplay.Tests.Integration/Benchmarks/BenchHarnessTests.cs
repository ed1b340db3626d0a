using EventReplay.Benchmarks;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Benchmarks;

/// <summary>
/// A small run of eng/bench.sh's legs (one repetition of each over 20,000 seeded events): proves they compute the same
/// balances, so the published comparison compares like with like. It never judges speed.
/// </summary>
public class BenchHarnessTests : StackOverEmptyLog
{
    [Test]
    public async Task Replay_marten_apply_floor_and_floor_compute_the_same_balances()
    {
        // 1,000 accounts of 20 events, in runs of 5 (neither fully interleaved nor contiguous: the harder order).
        await Seed.AppendAsync(EventStore, "smoke", accounts: 1_000, eventsPerAccount: 20, Layout.Runs);
        var runs = new List<LegRun>
        {
            await Legs.RunReplayAsync(Legs.Replay, Stack.Api.Http.BaseAddress!, ReadModels, batchSize: 500),
        };
        foreach (var leg in new[] { Legs.Marten, Legs.ApplyFloor, Legs.Floor })
        {
            runs.AddRange(await Legs.RunInProcessAsync(leg, EventStore, ReadModels, TestEnvironment.RedisConnectionString, batchSize: 500));
        }

        Assert.Multiple(() =>
        {
            foreach (var run in runs)
            {
                Assert.That(run.Events, Is.EqualTo(20_000), run.Leg);
                Assert.That(run.Hash, Does.StartWith("1000:"), $"{run.Leg}: one row per account");
                Assert.That(run.Hash, Is.EqualTo(runs[0].Hash), $"{run.Leg} computed other balances than the replay");
                Assert.That(run.EventsPerSecond, Is.GreaterThan(0), run.Leg);
            }
        });
    }
}
