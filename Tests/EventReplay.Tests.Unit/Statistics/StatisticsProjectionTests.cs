using System.Text.Json;
using EventReplay.Consumers.Statistics.Statistics;
using EventReplay.Contracts;

namespace EventReplay.Tests.Unit.Statistics;

public class StatisticsProjectionTests
{
    [Test]
    public void Totals_fold_every_kind_of_event()
    {
        var result = StatisticsProjection.ApplyBatch(Totals.Empty, new Dictionary<string, long>(),
        [
            Event("a", 1, "AccountOpened", new { accountId = "a", owner = "A" }, 1),
            Event("b", 1, "AccountOpened", new { accountId = "b", owner = "B" }, 2),
            Event("a", 2, "FundsDeposited", new { accountId = "a", amount = 125.50m }, 3),
            Event("a", 3, "FundsWithdrawn", new { accountId = "a", amount = 20m }, 4),
            Event("b", 2, "AccountClosed", new { accountId = "b" }, 5),
        ]);

        Assert.Multiple(() =>
        {
            Assert.That(result.Totals, Is.EqualTo(new Totals(2, 1, 1, 125.50m, 1, 20m, 5)));
            Assert.That(result.Versions, Is.EquivalentTo(new Dictionary<string, long> { ["a"] = 3, ["b"] = 2 }));
            Assert.That(result.Applied, Is.EqualTo(5));
        });
    }

    [Test]
    public void Duplicates_count_once_and_gaps_wait()
    {
        var result = StatisticsProjection.ApplyBatch(new Totals(1, 1, 0, 0m, 0, 0m, 1), new Dictionary<string, long> { ["a"] = 1 },
        [
            Event("a", 1, "AccountOpened", new { accountId = "a", owner = "A" }, 1),
            Event("a", 3, "FundsDeposited", new { accountId = "a", amount = 5m }, 9),
            Event("a", 2, "FundsDeposited", new { accountId = "a", amount = 1m }, 8),
        ]);

        Assert.Multiple(() =>
        {
            Assert.That(result.Duplicates, Is.EqualTo(1));
            Assert.That(result.Gaps.Select(g => g.Version), Is.EqualTo(new long[] { 3 }));
            Assert.That(result.Totals.DepositTotal, Is.EqualTo(1m));
        });
    }

    [Test]
    public void An_open_after_version_1_or_a_deposit_at_version_1_is_invalid()
    {
        var result = StatisticsProjection.ApplyBatch(Totals.Empty, new Dictionary<string, long> { ["a"] = 1 },
        [
            Event("a", 2, "AccountOpened", new { accountId = "a", owner = "A" }, 2),
            Event("b", 1, "FundsDeposited", new { accountId = "b", amount = 5m }, 3),
        ]);

        Assert.Multiple(() =>
        {
            Assert.That(result.Invalid, Has.Count.EqualTo(2));
            Assert.That(result.Totals, Is.EqualTo(Totals.Empty));
        });
    }

    private static RecordedEvent Event(string id, long version, string type, object data, long position) =>
        new(position, id, version, type, DateTimeOffset.UnixEpoch, JsonSerializer.SerializeToElement(data));
}
