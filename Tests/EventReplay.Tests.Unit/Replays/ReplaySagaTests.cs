using EventReplay.Contracts.Replays;
using EventReplay.Replay.Replays;
using Wolverine;
using ReplaySaga = EventReplay.Replay.Replays.Replay;

namespace EventReplay.Tests.Unit.Replays;

/// <summary>The Replay saga's decisions, called directly: no host, no broker, no database.</summary>
public class ReplaySagaTests
{
    private readonly ManualClock _clock = new();

    [Test]
    public void A_valid_start_is_requested_and_asks_for_a_plan()
    {
        var (replay, messages) = ReplaySaga.Create(Command(), _clock);

        Assert.Multiple(() =>
        {
            Assert.That(replay.Id, Is.EqualTo("r1"));
            Assert.That(replay.Status, Is.EqualTo(ReplayStatus.Requested));
            Assert.That(messages.Single(), Is.EqualTo(new PlanReplay("r1", replay.Selection)));
            Assert.That(replay.Selection.FromPosition, Is.EqualTo(1));
        });
    }

    [Test]
    public void An_invalid_start_from_AMQP_is_recorded_as_failed_with_the_reason()
    {
        var (replay, messages) = ReplaySaga.Create(Command() with { Target = "nobody" }, _clock);

        Assert.Multiple(() =>
        {
            Assert.That(replay.Status, Is.EqualTo(ReplayStatus.Failed));
            Assert.That(replay.Error, Does.Contain("Unknown target 'nobody'"));
            Assert.That(messages.Single(), Is.TypeOf<ReplayFailed>());
        });
    }

    [Test]
    public void Once_planned_it_runs_and_reads_the_first_batch_from_the_start()
    {
        var replay = Planned(to: 100, total: 100);

        Assert.Multiple(() =>
        {
            Assert.That(replay.Status, Is.EqualTo(ReplayStatus.Running));
            Assert.That(replay.Reading, Is.True);
        });
    }

    [Test]
    public void One_read_asks_for_as_many_batches_as_may_be_in_flight_then_half_a_window_at_a_time()
    {
        var (replay, _) = ReplaySaga.Create(Command(), _clock);
        var first = replay.Handle(new ReplayPlanned("r1", 1000, 1000), _clock).OfType<SendReplayBatches>().Single();
        var batches = Enumerable.Range(1, ReplaySaga.MaxInFlight).Select(n => new SentBatch(n, (n - 1) * 10, n * 10, 10)).ToList();
        var full = replay.Handle(new ReplayBatchesSent("r1", 1, batches), _clock);
        var early = Enumerable.Range(1, ReplaySaga.ReadAhead - 1)
            .SelectMany(n => replay.Handle(new ReplayBatchApplied("r1", n, 10, 0, 0, 0, n * 10), _clock)).OfType<SendReplayBatches>().ToList();
        var next = replay.Handle(new ReplayBatchApplied("r1", ReplaySaga.ReadAhead, 10, 0, 0, 0, ReplaySaga.ReadAhead * 10), _clock)
            .OfType<SendReplayBatches>().Single();

        Assert.Multiple(() =>
        {
            Assert.That((first.FirstSequence, first.Batches, first.After), Is.EqualTo((1, ReplaySaga.MaxInFlight, 0L)));
            Assert.That(full.OfType<SendReplayBatches>(), Is.Empty, "all batches in flight: wait for answers");
            Assert.That(replay.CheckScheduled, Is.True, "a check watches the batches in flight");
            Assert.That(early, Is.Empty, "less than half the window free: no read yet");
            Assert.That(replay.InFlight, Has.Count.EqualTo(ReplaySaga.MaxInFlight - ReplaySaga.ReadAhead));
            Assert.That((next.FirstSequence, next.Batches, next.After),
                Is.EqualTo((ReplaySaga.MaxInFlight + 1, ReplaySaga.ReadAhead, 10L * ReplaySaga.MaxInFlight)));
        });
    }

    [Test]
    public void Answers_that_come_before_their_read_is_recorded_ask_for_the_next_read_after_the_whole_read()
    {
        var (replay, _) = ReplaySaga.Create(Command(), _clock);
        replay.Handle(new ReplayPlanned("r1", 1000, 1000), _clock);
        var batches = Enumerable.Range(1, ReplaySaga.MaxInFlight).Select(n => new SentBatch(n, (n - 1) * 10, n * 10, 10)).ToList();
        // A fast consumer answers every batch of the read before the saga hears that the read went out.
        var early = batches.SelectMany(b => replay.Handle(new ReplayBatchApplied("r1", b.Sequence, 10, 0, 0, 0, b.LastPosition), _clock)).ToList();

        var sent = replay.Handle(new ReplayBatchesSent("r1", 1, batches), _clock);
        var next = sent.OfType<SendReplayBatches>().Single();
        var nextSent = replay.Handle(new ReplayBatchesSent("r1", next.FirstSequence, [new SentBatch(next.FirstSequence, next.After, next.After + 10, 10)]), _clock);

        Assert.Multiple(() =>
        {
            Assert.That(early, Is.Empty, "kept until the read is recorded");
            Assert.That((next.FirstSequence, next.After), Is.EqualTo((ReplaySaga.MaxInFlight + 1, 10L * ReplaySaga.MaxInFlight)),
                "the next read starts after the whole previous read");
            Assert.That(replay.EventsApplied, Is.EqualTo(10 * ReplaySaga.MaxInFlight));
            Assert.That(replay.Early, Is.Empty);
            Assert.That(replay.InFlight.Select(b => b.Sequence), Is.EqualTo(new[] { ReplaySaga.MaxInFlight + 1 }),
                "the next read's news is taken as fresh");
            Assert.That(nextSent.OfType<SendReplayBatches>().Single().FirstSequence, Is.EqualTo(ReplaySaga.MaxInFlight + 2));
        });
    }

    [Test]
    public void Large_batches_get_a_window_of_as_many_events_not_as_many_batches()
    {
        var (replay, _) = ReplaySaga.Create(Command() with { BatchSize = 4000 }, _clock);
        var first = replay.Handle(new ReplayPlanned("r1", 1_000_000, 1_000_000), _clock).OfType<SendReplayBatches>().Single();

        Assert.That(first.Batches * first.BatchSize, Is.EqualTo(ReplaySaga.MaxEventsInFlight));
    }

    [Test]
    public void A_paused_replay_shows_paused_only_once_the_read_under_way_is_sent()
    {
        var replay = Planned(to: 100, total: 100);
        replay.Pause(_clock);
        Assert.That(replay.VisibleStatus(_clock.GetUtcNow()), Is.EqualTo(ReplayStatus.Running), "a read is under way");

        replay.Handle(Sent(1, 0, 10, 10), _clock);
        Assert.Multiple(() =>
        {
            Assert.That(replay.VisibleStatus(_clock.GetUtcNow()), Is.EqualTo(ReplayStatus.Paused));
            Assert.That(replay.EventsSent, Is.EqualTo(10), "what was read before the pause is sent and counted");
        });
    }

    [Test]
    public void A_paused_replay_whose_read_waits_for_the_rate_limit_shows_paused_at_once()
    {
        var (replay, _) = ReplaySaga.Create(Command() with { MaxEventsPerSecond = 10 }, _clock);
        replay.Handle(new ReplayPlanned("r1", 100, 100), _clock);
        replay.Handle(Sent(1, 0, 10, 10), _clock); // the next read waits a second for its turn
        replay.Pause(_clock);

        Assert.That((replay.Reading, replay.VisibleStatus(_clock.GetUtcNow())), Is.EqualTo((true, ReplayStatus.Paused)));
    }

    [Test]
    public void Answers_are_counted_and_the_last_one_completes_the_replay()
    {
        var replay = Planned(to: 20, total: 20);
        replay.Handle(Sent(1, 0, 10, 10), _clock);
        replay.Handle(Sent(2, 10, 20, 10), _clock);
        replay.Handle(new ReplayBatchApplied("r1", 1, 7, 3, 0, 0, 10), _clock);
        _clock.Advance(TimeSpan.FromSeconds(2));
        var last = replay.Handle(new ReplayBatchApplied("r1", 2, 0, 10, 0, 0, 20), _clock);

        Assert.Multiple(() =>
        {
            Assert.That(replay.Status, Is.EqualTo(ReplayStatus.Completed));
            Assert.That(replay.EventsApplied, Is.EqualTo(7));
            Assert.That(replay.EventsSkipped, Is.EqualTo(13));
            Assert.That(replay.EventsPerSecond(_clock.GetUtcNow()), Is.EqualTo(10));
            Assert.That(last.OfType<ReplayCompleted>().Single(), Is.EqualTo(new ReplayCompleted("r1", 7, 13, 2)));
        });
    }

    [Test]
    public void A_second_answer_to_the_same_batch_is_counted_once()
    {
        var replay = Planned(to: 20, total: 20);
        replay.Handle(Sent(1, 0, 10, 10), _clock);
        replay.Handle(new ReplayBatchApplied("r1", 1, 10, 0, 0, 0, 10), _clock);
        replay.Handle(new ReplayBatchApplied("r1", 1, 0, 10, 0, 0, 10), _clock);

        Assert.That((replay.EventsApplied, replay.EventsSkipped), Is.EqualTo((10L, 0L)));
    }

    [Test]
    public void An_answer_for_several_batches_applied_together_counts_them_all_once()
    {
        var replay = Planned(to: 30, total: 30);
        replay.Handle(new ReplayBatchesSent("r1", 1,
            [new SentBatch(1, 0, 10, 10), new SentBatch(2, 10, 20, 10), new SentBatch(3, 20, 30, 10)]), _clock);
        var together = new ReplayBatchApplied("r1", 2, 18, 2, 0, 0, 20, Sequences: [1, 2]);
        replay.Handle(together, _clock);
        replay.Handle(together, _clock);

        Assert.Multiple(() =>
        {
            Assert.That(replay.InFlight.Select(batch => batch.Sequence), Is.EqualTo(new[] { 3 }));
            Assert.That((replay.EventsApplied, replay.EventsSkipped), Is.EqualTo((18L, 2L)));
            Assert.That(replay.Status, Is.EqualTo(ReplayStatus.Running));
        });

        replay.Handle(new ReplayBatchApplied("r1", 3, 10, 0, 0, 0, 30), _clock);
        Assert.That((replay.Status, replay.EventsApplied), Is.EqualTo((ReplayStatus.Completed, 28L)));
    }

    [Test]
    public void An_answer_for_several_batches_that_overtakes_their_news_waits_for_it()
    {
        var replay = Planned(to: 20, total: 20);
        replay.Handle(new ReplayBatchApplied("r1", 2, 20, 0, 0, 0, 20, Sequences: [1, 2]), _clock);
        Assert.That(replay.EventsApplied, Is.Zero);

        replay.Handle(new ReplayBatchesSent("r1", 1, [new SentBatch(1, 0, 10, 10), new SentBatch(2, 10, 20, 10)]), _clock);
        Assert.That((replay.Status, replay.EventsApplied, replay.InFlight.Count), Is.EqualTo((ReplayStatus.Completed, 20L, 0)));
    }

    [Test]
    public void An_answer_that_overtakes_the_news_of_its_batch_is_counted_when_the_news_arrives()
    {
        var replay = Planned(to: 10, total: 10);
        replay.Handle(new ReplayBatchApplied("r1", 1, 4, 6, 0, 0, 10), _clock);
        var sent = replay.Handle(Sent(1, 0, 10, 10), _clock);

        Assert.Multiple(() =>
        {
            Assert.That((replay.EventsApplied, replay.EventsSkipped), Is.EqualTo((4L, 6L)));
            Assert.That(replay.Status, Is.EqualTo(ReplayStatus.Completed));
            Assert.That(sent.OfType<ReplayCompleted>(), Has.Exactly(1).Items);
        });
    }

    [Test]
    public void A_batch_without_an_answer_is_sent_again_after_the_timeout_and_only_then()
    {
        var replay = Planned(to: 20, total: 20);
        replay.Handle(Sent(1, 0, 20, 10), _clock);

        var early = replay.Handle(new ReplayCheck("r1"), _clock);
        _clock.Advance(ReplaySaga.AckTimeout);
        var again = replay.Handle(new ReplayCheck("r1"), _clock);
        replay.Handle(new ReplayBatchApplied("r1", 1, 10, 0, 0, 0, 20), _clock);
        _clock.Advance(ReplaySaga.AckTimeout);
        var late = replay.Handle(new ReplayCheck("r1"), _clock);

        Assert.Multiple(() =>
        {
            Assert.That(early.OfType<SendReplayBatches>(), Is.Empty, "not overdue yet");
            var resend = again.OfType<SendReplayBatches>().Single();
            Assert.That((resend.FirstSequence, resend.Batches, resend.After, resend.Selection.ToPosition), Is.EqualTo((1, 1, 0L, 20L)));
            Assert.That(again.OfType<ReplayCheck>(), Has.Exactly(1).Items, "checked again while batches are in flight");
            Assert.That(late, Is.Empty);
            Assert.That(replay.EventsSent, Is.EqualTo(10), "a re-sent batch is not counted twice");
        });
    }

    [Test]
    public void A_batch_that_is_never_answered_is_sent_again_with_longer_waits_then_fails_the_rebuild()
    {
        var replay = Planned(to: 10, total: 10, ReplayModes.Rebuild);
        replay.Handle(Sent(1, 0, 10, 10), _clock);
        var waits = new List<TimeSpan>();
        for (var sends = 1; sends < ReplaySaga.MaxSends; sends++)
        {
            _clock.Advance(ReplaySaga.AnswerWait(sends) - TimeSpan.FromSeconds(1));
            Assert.That(replay.Handle(new ReplayCheck("r1"), _clock).OfType<SendReplayBatches>(), Is.Empty, $"not overdue after {sends} sends");
            _clock.Advance(TimeSpan.FromSeconds(1));
            Assert.That(replay.Handle(new ReplayCheck("r1"), _clock).OfType<SendReplayBatches>(), Has.Exactly(1).Items, $"sent again after {sends} sends");
            waits.Add(ReplaySaga.AnswerWait(sends));
        }

        _clock.Advance(ReplaySaga.AnswerWait(ReplaySaga.MaxSends));
        var last = replay.Handle(new ReplayCheck("r1"), _clock);

        Assert.Multiple(() =>
        {
            Assert.That(waits.Take(3), Is.EqualTo(new[] { TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(120) }));
            Assert.That(waits.Skip(3), Is.All.EqualTo(ReplaySaga.MaxAckTimeout));
            Assert.That(replay.Status, Is.EqualTo(ReplayStatus.Failed));
            Assert.That(replay.Error, Does.Contain("did not answer batch 1").And.Contain($"{ReplaySaga.MaxSends} sends"));
            Assert.That(last.OfType<SendReplayBatches>(), Is.Empty);
            Assert.That(last.OfType<ReplayFailed>(), Has.Exactly(1).Items);
            Assert.That(last.OfType<AbandonRebuild>(), Has.Exactly(1).Items, "the fresh copy is dropped");
            Assert.That(replay.Handle(new ReplayCheck("r1"), _clock), Is.Empty, "nothing more is sent");
        });
    }

    [Test]
    public void A_read_whose_answer_is_lost_is_asked_for_again_by_the_check()
    {
        var replay = Planned(to: 100, total: 100);
        _clock.Advance(ReplaySaga.ReadTimeout - TimeSpan.FromSeconds(1));
        var early = replay.Handle(new ReplayCheck("r1"), _clock);
        _clock.Advance(TimeSpan.FromSeconds(1));

        var check = replay.Handle(new ReplayCheck("r1"), _clock);

        Assert.Multiple(() =>
        {
            Assert.That(early.OfType<SendReplayBatches>(), Is.Empty, "the read is not late yet");
            var again = check.OfType<SendReplayBatches>().Single();
            Assert.That((again.FirstSequence, again.After), Is.EqualTo((1, 0L)));
            Assert.That(check.OfType<ReplayCheck>(), Has.Exactly(1).Items, "the check keeps watching the new read");
        });
    }

    [Test]
    public void A_read_held_because_the_replay_was_paused_is_asked_for_again_on_resume()
    {
        var replay = Planned(to: 100, total: 100);
        replay.Pause(_clock);
        var held = replay.Handle(new ReplayBatchesSent("r1", 1, [], Held: true), _clock);
        var resumed = replay.Resume(_clock);

        Assert.Multiple(() =>
        {
            Assert.That(held, Is.Empty);
            Assert.That(replay.Cursor, Is.Zero);
            Assert.That(resumed.OfType<SendReplayBatches>().Single(), Has.Property("FirstSequence").EqualTo(1).And.Property("After").EqualTo(0));
        });
    }

    [Test]
    public void Cancel_ends_the_replay_and_later_answers_change_nothing()
    {
        var replay = Planned(to: 100, total: 100);
        replay.Handle(Sent(1, 0, 10, 10), _clock);
        var cancelled = replay.Cancel(_clock);
        var after = replay.Handle(new ReplayBatchApplied("r1", 1, 10, 0, 0, 0, 10), _clock);

        Assert.Multiple(() =>
        {
            Assert.That(replay.Status, Is.EqualTo(ReplayStatus.Cancelled));
            Assert.That(cancelled.OfType<ReplayCancelled>().Single().Position, Is.EqualTo(10));
            Assert.That(after, Is.Empty);
            Assert.That(replay.EventsApplied, Is.Zero);
        });
    }

    [Test]
    public void An_empty_selection_completes_at_once()
    {
        var replay = Planned(to: 50, total: 0);
        var messages = replay.Handle(Sent(1, 0, 50, 0), _clock);

        Assert.Multiple(() =>
        {
            Assert.That(replay.Status, Is.EqualTo(ReplayStatus.Completed));
            Assert.That(messages.OfType<ReplayCompleted>(), Has.Exactly(1).Items);
        });
    }

    [Test]
    public void The_rate_limit_delays_the_next_read()
    {
        var (replay, _) = ReplaySaga.Create(Command() with { MaxEventsPerSecond = 10 }, _clock);
        replay.Handle(new ReplayPlanned("r1", 100, 100), _clock);
        var next = replay.Handle(Sent(1, 0, 20, 20), _clock);

        // 20 events sent at 10 per second: the next read is due 2 s after the start.
        Assert.That(next.OfType<DeliveryMessage<SendReplayBatches>>().Single().Options.ScheduleDelay, Is.EqualTo(TimeSpan.FromSeconds(2)));
    }

    [Test]
    public void A_rebuild_follows_the_head_then_asks_for_the_cut_over_and_completes_on_the_answer()
    {
        var replay = Planned(to: 10, total: 10, ReplayModes.Rebuild);
        replay.Handle(Sent(1, 0, 10, 10), _clock);
        var follow = replay.Handle(new ReplayBatchApplied("r1", 1, 10, 0, 0, 0, 10), _clock);
        var longTail = replay.Handle(new ReplayFollowed("r1", 10_100, 10_090), _clock);

        Assert.Multiple(() =>
        {
            Assert.That(follow.OfType<FollowReplay>().Single().After, Is.EqualTo(10));
            Assert.That(replay.Selection.ToPosition, Is.EqualTo(10_100), "a long tail is replayed first");
            Assert.That(replay.EventsTotal, Is.EqualTo(10_100));
            Assert.That(longTail.OfType<SendReplayBatches>().Single().After, Is.EqualTo(10));
        });

        replay.Handle(Sent(2, 10, 10_100, 10_090), _clock);
        replay.Handle(new ReplayBatchApplied("r1", 2, 10_090, 0, 0, 0, 10_100), _clock);
        var cutOver = replay.Handle(new ReplayFollowed("r1", 10_103, 3), _clock);
        var done = replay.Handle(new RebuildCutOverDone("r1", 10_103), _clock);

        Assert.Multiple(() =>
        {
            Assert.That(cutOver.OfType<CutOverRebuild>().Single(), Is.EqualTo(new CutOverRebuild("r1", "balances")));
            Assert.That(cutOver.OfType<CutOverTimeout>().Single().Attempt, Is.EqualTo(1));
            Assert.That(replay.Status, Is.EqualTo(ReplayStatus.Completed));
            Assert.That(replay.Cursor, Is.EqualTo(10_103));
            Assert.That(done.OfType<ReplayCompleted>(), Has.Exactly(1).Items);
        });
    }

    [Test]
    public void An_unanswered_cut_over_is_asked_again_then_the_rebuild_fails_and_drops_its_copy()
    {
        var replay = Planned(to: 0, total: 0, ReplayModes.Rebuild);
        replay.Handle(Sent(1, 0, 0, 0), _clock);
        replay.Handle(new ReplayFollowed("r1", 0, 0), _clock);
        var again = replay.Handle(new CutOverTimeout("r1", 1), _clock);
        for (var attempt = 2; attempt < ReplaySaga.MaxCutOverAttempts; attempt++)
        {
            replay.Handle(new CutOverTimeout("r1", attempt), _clock);
        }

        var last = replay.Handle(new CutOverTimeout("r1", ReplaySaga.MaxCutOverAttempts), _clock);

        Assert.Multiple(() =>
        {
            Assert.That(again.OfType<CutOverRebuild>(), Has.Exactly(1).Items);
            Assert.That(replay.Status, Is.EqualTo(ReplayStatus.Failed));
            Assert.That(last.OfType<AbandonRebuild>(), Has.Exactly(1).Items);
        });
    }

    [Test]
    public void A_cancel_that_comes_during_the_cut_over_waits_for_its_answer_and_a_done_swap_completes_the_rebuild()
    {
        var replay = AtCutOver();
        var cancel = replay.Cancel(_clock);
        var statusMeanwhile = replay.Status;
        var done = replay.Handle(new RebuildCutOverDone("r1", 10), _clock);

        Assert.Multiple(() =>
        {
            Assert.That(cancel, Is.Empty, "no abandon after the cut-over was asked for: the swap may have happened");
            Assert.That(statusMeanwhile, Is.EqualTo(ReplayStatus.Running));
            Assert.That(replay.Status, Is.EqualTo(ReplayStatus.Completed));
            Assert.That(replay.Error, Does.Contain("cancel arrived while the rebuild was cutting over"));
            Assert.That(done.OfType<ReplayCompleted>(), Has.Exactly(1).Items);
            Assert.That(done.OfType<ReplayCancelled>(), Is.Empty);
        });
    }

    [Test]
    public void A_cancel_during_a_cut_over_that_is_never_confirmed_ends_failed_and_drops_the_copy()
    {
        var replay = AtCutOver();
        replay.Cancel(_clock);
        var last = new OutgoingMessages();
        for (var attempt = 1; attempt <= ReplaySaga.MaxCutOverAttempts; attempt++)
        {
            last = replay.Handle(new CutOverTimeout("r1", attempt), _clock);
        }

        Assert.Multiple(() =>
        {
            Assert.That(replay.Status, Is.EqualTo(ReplayStatus.Failed));
            Assert.That(replay.Error, Does.Contain("a cancel arrived"));
            Assert.That(last.OfType<AbandonRebuild>(), Has.Exactly(1).Items);
        });
    }

    [Test]
    public void A_cancelled_rebuild_tells_the_target_to_drop_its_fresh_copy()
    {
        var replay = Planned(to: 100, total: 100, ReplayModes.Rebuild);
        var cancelled = replay.Cancel(_clock);

        Assert.That(cancelled.OfType<AbandonRebuild>().Single(), Is.EqualTo(new AbandonRebuild("r1", "balances")));
    }

    [Test]
    public void A_refused_plan_fails_the_replay_with_the_reason()
    {
        var (replay, _) = ReplaySaga.Create(Command() with { Mode = ReplayModes.Rebuild }, _clock);
        replay.Handle(new ReplayRefused("r1", "Rebuild r0 of balances is still running."), _clock);

        Assert.That((replay.Status, replay.Error), Is.EqualTo((ReplayStatus.Failed, "Rebuild r0 of balances is still running.")));
    }

    [TestCase("""{"fromPosition":5}""")]
    [TestCase("""{"streamIds":["a"]}""")]
    [TestCase("""{"eventTypes":["AccountOpened"]}""")]
    public void A_rebuild_refuses_filters(string filter)
    {
        var selection = System.Text.Json.JsonSerializer.Deserialize<StartReplay>(filter, new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web))!;
        var errors = ReplayRules.Validate(selection with { ReplayId = "r1", Target = "balances", Mode = ReplayModes.Rebuild });

        Assert.That(errors["mode"].Single(), Does.StartWith("A rebuild replays the whole log"));
    }

    /// <summary>A rebuild of 10 events that has sent and applied them all and asked its target to cut over.</summary>
    private ReplaySaga AtCutOver()
    {
        var replay = Planned(to: 10, total: 10, ReplayModes.Rebuild);
        replay.Handle(Sent(1, 0, 10, 10), _clock);
        replay.Handle(new ReplayBatchApplied("r1", 1, 10, 0, 0, 0, 10), _clock);
        Assert.That(replay.Handle(new ReplayFollowed("r1", 10, 0), _clock).OfType<CutOverRebuild>(), Has.Exactly(1).Items);
        return replay;
    }

    private ReplaySaga Planned(long to, long total, string mode = ReplayModes.Redeliver)
    {
        var (replay, _) = ReplaySaga.Create(Command() with { Mode = mode }, _clock);
        replay.Handle(new ReplayPlanned("r1", to, total), _clock);
        return replay;
    }

    private static ReplayBatchesSent Sent(int sequence, long after, long last, int count) =>
        new("r1", sequence, [new SentBatch(sequence, after, last, count)]);

    private static StartReplay Command() => new("r1", "balances", ReplayModes.Redeliver, BatchSize: 10);

    private sealed class ManualClock : TimeProvider
    {
        private DateTimeOffset _now = new(2026, 11, 27, 12, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
