using EventReplay.Contracts.Replays;
using EventReplay.Replay.Replays;
using ReplaySaga = EventReplay.Replay.Replays.Replay;

namespace EventReplay.Tests.Unit.Replays;

/// <summary>What a replay request may hold, the same over HTTP and AMQP, and what a refused AMQP command leaves recorded.</summary>
public class ReplayRulesTests
{
    private static readonly StartReplay Valid = new("r1", "balances", ReplayModes.Redeliver);

    [Test]
    public void A_request_at_every_limit_is_valid()
    {
        var request = Valid with
        {
            ReplayId = new string('r', 64),
            StreamIds = [.. Enumerable.Range(0, 1000).Select(n => $"acc-{n}")],
            EventTypes = ["AccountOpened", "FundsDeposited", "FundsWithdrawn", "AccountClosed"],
            Reason = new string('x', 1000),
            RequestedBy = new string('o', 200) + "",
            BatchSize = 10_000,
        };

        Assert.That(ReplayRules.Validate(request), Is.Empty);
    }

    [TestCase("r1\n")]
    [TestCase("r 1")]
    [TestCase("")]
    [TestCase("r\u0000")]
    public void A_malformed_replay_id_is_refused(string id)
    {
        Assert.That(ReplayRules.Validate(Valid with { ReplayId = id }).Keys, Is.EqualTo(new[] { "replayId" }));
    }

    [TestCase("acc\n")]
    [TestCase("acc\u0000")]
    [TestCase("a b")]
    [TestCase("mt_tombstone")]
    [TestCase("")]
    [TestCase(null)]
    public void Stream_ids_are_account_ids(string? stream)
    {
        Assert.That(ReplayRules.Validate(Valid with { StreamIds = ["acc-1", stream!] }).Keys, Is.EqualTo(new[] { "streamIds" }));
    }

    [TestCase("Nope")]
    [TestCase("fundsdeposited")]
    [TestCase("tombstone")]
    [TestCase("\u0000")]
    [TestCase(null)]
    public void Event_types_are_recorded_event_types(string? type)
    {
        Assert.That(ReplayRules.Validate(Valid with { EventTypes = ["AccountOpened", type!] }).Keys, Is.EqualTo(new[] { "eventTypes" }));
    }

    [Test]
    public void Lists_hold_at_most_1000_entries()
    {
        var errors = ReplayRules.Validate(Valid with
        {
            StreamIds = [.. Enumerable.Repeat("acc-1", 1001)],
            EventTypes = [.. Enumerable.Repeat("AccountOpened", 1001)],
        });

        Assert.That(errors.Keys, Is.EquivalentTo(new[] { "streamIds", "eventTypes" }));
    }

    [TestCase("a\u0000b")]
    [TestCase("a\nb")]
    [TestCase("a\u007fb")]
    public void Reason_and_requester_have_no_control_characters(string text)
    {
        Assert.That(ReplayRules.Validate(Valid with { Reason = text, RequestedBy = text }).Keys, Is.EquivalentTo(new[] { "reason", "requestedBy" }));
    }

    [Test]
    public void Reason_and_requester_have_a_length_limit()
    {
        var errors = ReplayRules.Validate(Valid with { Reason = new string('x', 1001), RequestedBy = new string('o', 201) });

        Assert.That(errors.Keys, Is.EquivalentTo(new[] { "reason", "requestedBy" }));
    }

    [Test]
    public void An_unknown_target_is_quoted_with_its_control_characters_escaped_and_cut_short()
    {
        var errors = ReplayRules.Validate(Valid with { Target = "bal\u0000" + new string('x', 100) });

        Assert.That(errors["target"].Single(), Does.StartWith("Unknown target 'bal\\u0000xxx").And.Contain("…'").And.Not.Contain("\u0000"));
    }

    [Test]
    public void A_refused_AMQP_start_records_what_it_can_store_under_a_valid_id()
    {
        var (replay, _) = ReplaySaga.Create(Valid with
        {
            ReplayId = "r1\u0000",
            Target = "nobody\u0000",
            Mode = "redeliver\n",
            Reason = "why\u0000",
            RequestedBy = new string('o', 201),
        }, TimeProvider.System);

        Assert.Multiple(() =>
        {
            Assert.That(replay.Status, Is.EqualTo(ReplayStatus.Failed));
            Assert.That(replay.Id, Does.Match("^[0-9a-f]{32}$"), "a fresh id for a malformed one");
            Assert.That((replay.Target, replay.Mode, replay.Reason, replay.RequestedBy), Is.EqualTo(("", "", (string?)null, (string?)null)));
            Assert.That(replay.Error, Does.Not.Contain("\u0000"));
        });
    }

    [Test]
    public void An_AMQP_start_without_an_id_is_refused_with_the_reason()
    {
        Assert.That(() => ReplaySaga.Create(Valid with { ReplayId = null }, TimeProvider.System),
            Throws.ArgumentException.With.Message.Contains("must name its replayId"));
    }

    [Test]
    public void A_refused_AMQP_start_keeps_its_valid_id_and_values()
    {
        var (replay, _) = ReplaySaga.Create(Valid with { BatchSize = 0, Reason = "why", RequestedBy = "ops" }, TimeProvider.System);

        Assert.That((replay.Status, replay.Id, replay.Target, replay.Mode, replay.Reason, replay.RequestedBy),
            Is.EqualTo((ReplayStatus.Failed, "r1", "balances", ReplayModes.Redeliver, "why", "ops")));
    }
}
