using System.Text.Json;
using EventReplay.Consumers.Balances.Balances;
using EventReplay.Contracts;
using EventReplay.Contracts.Accounts;

namespace EventReplay.Tests.Unit.Balances;

public class BalanceProjectionTests
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    [Test]
    public void Opening_creates_the_row_at_version_1()
    {
        var (state, outcome) = BalanceProjection.Apply(null, Opened("acc-1", position: 7));

        Assert.Multiple(() =>
        {
            Assert.That(outcome, Is.EqualTo(ApplyOutcome.Applied));
            Assert.That(state, Is.EqualTo(new AccountBalance("acc-1", "Ada", 0m, "open", 1, 7, Noon)));
        });
    }

    [Test]
    public void Deposits_withdrawals_and_closing_fold_in_version_order()
    {
        var state = Fold(
            Opened("acc-1"),
            Event("acc-1", 2, AccountEventTypes.FundsDeposited, new { accountId = "acc-1", amount = 125.50m }),
            Event("acc-1", 3, AccountEventTypes.FundsWithdrawn, new { accountId = "acc-1", amount = 20.00m }),
            Event("acc-1", 4, AccountEventTypes.AccountClosed, new { accountId = "acc-1" }));

        Assert.That(state, Is.EqualTo(new AccountBalance("acc-1", "Ada", 105.50m, "closed", 4, 4, Noon)));
    }

    [Test]
    public void An_event_at_or_below_the_stored_version_is_a_duplicate_and_changes_nothing()
    {
        var state = Fold(Opened("acc-1"), Deposit("acc-1", 2, 10m));

        var (again, outcome) = BalanceProjection.Apply(state, Deposit("acc-1", 2, 10m));
        var (older, olderOutcome) = BalanceProjection.Apply(state, Opened("acc-1"));

        Assert.Multiple(() =>
        {
            Assert.That(outcome, Is.EqualTo(ApplyOutcome.Duplicate));
            Assert.That(again, Is.SameAs(state));
            Assert.That(olderOutcome, Is.EqualTo(ApplyOutcome.Duplicate));
            Assert.That(older, Is.SameAs(state));
        });
    }

    [Test]
    public void An_event_past_the_next_version_is_a_gap_and_is_not_applied()
    {
        var state = Fold(Opened("acc-1"));

        var (after, outcome) = BalanceProjection.Apply(state, Deposit("acc-1", 3, 10m));

        Assert.Multiple(() =>
        {
            Assert.That(outcome, Is.EqualTo(ApplyOutcome.Gap));
            Assert.That(after, Is.SameAs(state));
        });
    }

    [Test]
    public void Unknown_types_unreadable_data_and_impossible_orders_are_invalid()
    {
        Assert.Multiple(() =>
        {
            Assert.That(() => BalanceProjection.Apply(null, Event("acc-1", 1, "AccountRenamed", new { accountId = "acc-1" })),
                Throws.InstanceOf<InvalidEventException>().With.Message.Contains("Unknown event type"));
            Assert.That(() => BalanceProjection.Apply(null, Event("acc-1", 1, AccountEventTypes.AccountOpened, new { accountId = 5 })),
                Throws.InstanceOf<InvalidEventException>());
            Assert.That(() => BalanceProjection.Apply(null, Deposit("acc-1", 1, 10m)),
                Throws.InstanceOf<InvalidEventException>().With.Message.Contains("cannot be version 1"));
        });
    }

    [Test]
    public void A_batch_applies_in_order_counts_duplicates_and_holds_back_gapped_streams()
    {
        var existing = Fold(Opened("acc-1"), Deposit("acc-1", 2, 5m));
        var batch = new[]
        {
            Deposit("acc-1", 2, 5m),
            Deposit("acc-1", 3, 1m),
            Opened("acc-2"),
            Deposit("acc-2", 3, 9m),
            Deposit("acc-2", 4, 9m),
            Deposit("acc-1", 4, 1m),
        };

        var result = BalanceProjection.ApplyBatch(new Dictionary<string, AccountBalance> { ["acc-1"] = existing! }, batch);

        Assert.Multiple(() =>
        {
            Assert.That(result.Applied, Is.EqualTo(3));
            Assert.That(result.Duplicates, Is.EqualTo(1));
            Assert.That(result.Gaps.Select(g => (g.StreamId, g.Version)), Is.EqualTo(new[] { ("acc-2", 3L), ("acc-2", 4L) }));
            Assert.That(result.Changed.Single(r => r.AccountId == "acc-1"), Has.Property("Balance").EqualTo(7m).And.Property("Version").EqualTo(4));
            Assert.That(result.Changed.Single(r => r.AccountId == "acc-2"), Has.Property("Balance").EqualTo(0m).And.Property("Version").EqualTo(1));
        });
    }

    private static AccountBalance? Fold(params RecordedEvent[] events)
    {
        AccountBalance? state = null;
        foreach (var recorded in events)
        {
            (state, var outcome) = BalanceProjection.Apply(state, recorded);
            Assert.That(outcome, Is.EqualTo(ApplyOutcome.Applied));
        }

        return state;
    }

    private static RecordedEvent Opened(string id, long position = 1) =>
        Event(id, 1, AccountEventTypes.AccountOpened, new { accountId = id, owner = "Ada" }, position);

    private static RecordedEvent Deposit(string id, long version, decimal amount) =>
        Event(id, version, AccountEventTypes.FundsDeposited, new { accountId = id, amount });

    private static RecordedEvent Event(string id, long version, string type, object data, long? position = null) =>
        new(position ?? version, id, version, type, Noon, JsonSerializer.SerializeToElement(data));
}
