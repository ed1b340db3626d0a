using EventReplay.Contracts.Replays;
using JasperFx;
using Marten;
using Wolverine;

namespace EventReplay.Replay.Replays;

/// <summary>
/// The replay process, as a durable Wolverine saga (state in PostgreSQL through Marten). It decides and the handlers
/// read and send: it plans the selection, asks for as many batches as fit under <see cref="MaxInFlight"/> waiting
/// for their answer (one read at a time), counts the answers, re-asks for a batch whose answer does not come within
/// <see cref="AckTimeout"/>, honours the rate limit, pause, resume and cancel, and stays stored after it
/// ends so <c>GET /api/replays</c> can show it. Its document is revisioned: two messages of one replay handled at
/// once cannot overwrite each other's changes (the later one fails and is retried on the fresh state).
/// </summary>
public sealed class Replay : Saga, IRevisioned
{
    public const int MaxInFlight = 32;

    /// <summary>
    /// A read is asked for once this many batches are answered (and the window has that much room): reads fill
    /// half the window at a time, so each read and its bookkeeping serve several batches while the consumer still
    /// has the other half queued. (For batches of up to 500 events; larger ones have a window of
    /// <see cref="MaxEventsInFlight"/> events.)
    /// </summary>
    public const int ReadAhead = MaxInFlight / 2;

    /// <summary>The window in events: batches larger than 500 get fewer than <see cref="MaxInFlight"/> (at least 2).</summary>
    public const int MaxEventsInFlight = 16_000;

    public const int MaxCutOverAttempts = 5;

    /// <summary>A rebuild cuts over once the log has grown by at most this many events since its last round...</summary>
    public const int MaxCutOverTail = 10_000;

    /// <summary>...or after this many rounds of following the head, whatever the tail.</summary>
    public const int MaxFollowRounds = 5;

    /// <summary>A batch whose answer has not come within this is sent again; the wait doubles with each send, up to <see cref="MaxAckTimeout"/>.</summary>
    public static readonly TimeSpan AckTimeout = TimeSpan.FromSeconds(30);

    public static readonly TimeSpan MaxAckTimeout = TimeSpan.FromMinutes(2);

    /// <summary>
    /// A batch sent this often without an answer fails the replay (after about 11 minutes): its target is down or
    /// sets the batch aside, and an operator has to look; a replay never re-sends for ever.
    /// </summary>
    public const int MaxSends = 8;

    /// <summary>
    /// A read (milliseconds of work) whose answer has not come back within this is asked for again (its answer was
    /// lost); the check runs this often while anything is in flight.
    /// </summary>
    public static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(10);

    // Progress events at most this often (every answer updates the saga itself).
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(1);

    public string Id { get; set; } = "";

    public string Target { get; set; } = "";

    public string Mode { get; set; } = "";

    public string Status { get; set; } = ReplayStatus.Requested;

    public ReplaySelection Selection { get; set; } = new(1, 0, null, null, null, null);

    public int BatchSize { get; set; } = ReplayRules.DefaultBatchSize;

    public int? MaxEventsPerSecond { get; set; }

    public string? Reason { get; set; }

    public string? RequestedBy { get; set; }

    /// <summary>Whom the requester said it acted for (<c>X-Requested-By</c>, an AMQP body's <c>requestedBy</c>).</summary>
    public string? OnBehalfOf { get; set; }

    public DateTimeOffset RequestedAt { get; set; }

    public DateTimeOffset? StartedAt { get; set; }

    public DateTimeOffset? CompletedAt { get; set; }

    public DateTimeOffset? ProgressedAt { get; set; }

    /// <summary>The last position read and sent; the next batch starts after it.</summary>
    public long Cursor { get; set; }

    public bool Reading { get; set; }

    /// <summary>When the current read was asked for: a read that never answers is asked for again by the check.</summary>
    public DateTimeOffset? ReadingSince { get; set; }

    public int NextSequence { get; set; } = 1;

    public List<InFlightBatch> InFlight { get; set; } = [];

    /// <summary>Answers that arrived before the saga handled the <see cref="ReplayBatchesSent"/> of their batch.</summary>
    public List<ReplayBatchApplied> Early { get; set; } = [];

    /// <summary>A rebuild asked its target to cut over and waits for the answer (attempt number, 0 when not).</summary>
    public int CutOverAttempt { get; set; }

    /// <summary>A cancel that came while the rebuild was cutting over (too late to stop it; see <see cref="Cancel(TimeProvider)"/>).</summary>
    public bool CancelRequested { get; set; }

    /// <summary>How many times a rebuild has looked at the head again after sending everything planned.</summary>
    public int FollowRounds { get; set; }

    public long EventsTotal { get; set; }

    public long EventsSent { get; set; }

    public long EventsApplied { get; set; }

    public long EventsSkipped { get; set; }

    public long EventsParked { get; set; }

    public long EventsRejected { get; set; }

    public string? Error { get; set; }

    public sealed record InFlightBatch(int Sequence, long After, long LastPosition, int Count, int Attempt, DateTimeOffset SentAt);

    /// <summary>A <see cref="ReplayCheck"/> is pending.</summary>
    public bool CheckScheduled { get; set; }

    public static (Replay, OutgoingMessages) Start(StartReplay command, TimeProvider clock, Envelope envelope, IDocumentSession session)
    {
        if (ReplayAudit.CameOverAmqp(envelope))
        {
            // Over AMQP, who asked is the broker's user that published it (RabbitMQ refuses a user_id other than the
            // connection's); what the body says is kept as whom it acted for. Audited with the saga's own commit.
            command = command with { RequestedBy = ReplayAudit.AmqpRequester(envelope), OnBehalfOf = command.RequestedBy };
            ReplayAudit.Queue(session, envelope, "replay.start", command.ReplayId ?? "(none)", command.OnBehalfOf,
                $"{command.Mode} of {command.Target}{(command.Reason is null ? "" : $": {command.Reason}")}");
        }

        return Create(command, clock);
    }

    /// <summary>The replay a start command makes (recorded as failed when it breaks a rule), and what it sends first.</summary>
    public static (Replay, OutgoingMessages) Create(StartReplay command, TimeProvider clock)
    {

        // POST /api/replays makes an id up when the request has none; a command from AMQP has to name one (the saga is
        // known by it), else it is a dead letter with this reason rather than a NullReferenceException.
        if (command.ReplayId is null)
        {
            throw new ArgumentException("A StartReplay sent over AMQP must name its replayId.", nameof(command));
        }

        var replay = new Replay
        {
            Id = command.ReplayId,
            Target = command.Target ?? "",
            Mode = command.Mode ?? "",
            BatchSize = command.BatchSize ?? ReplayRules.DefaultBatchSize,
            MaxEventsPerSecond = command.MaxEventsPerSecond,
            Reason = command.Reason,
            RequestedBy = command.RequestedBy,
            OnBehalfOf = command.OnBehalfOf,
            RequestedAt = clock.GetUtcNow(),
        };
        var messages = new OutgoingMessages();
        var errors = ReplayRules.Validate(command);
        if (errors.Count > 0)
        {
            // A command from AMQP is not answered; its replay is recorded as failed with the reason instead. What broke a
            // rule is left out of the record (the error names it): it may not even be storable (PostgreSQL refuses a NUL),
            // and a malformed id gives way to a fresh one.
            replay.Id = ReplayRules.IsId(command.ReplayId) ? command.ReplayId! : Guid.NewGuid().ToString("N");
            replay.Target = errors.ContainsKey("target") ? "" : replay.Target;
            replay.Mode = ReplayModes.All.Contains(replay.Mode) ? replay.Mode : "";
            replay.Reason = errors.ContainsKey("reason") ? null : replay.Reason;
            replay.RequestedBy = errors.ContainsKey("requestedBy") ? null : replay.RequestedBy;
            replay.OnBehalfOf = errors.ContainsKey("onBehalfOf") ? null : replay.OnBehalfOf;
            replay.Fail(string.Join(" ", errors.SelectMany(error => error.Value)), clock, messages);
            return (replay, messages);
        }

        // The end is known once the planner has read the safe head; until then the selection's end is open.
        replay.Selection = ReplayRules.Selection(command, long.MaxValue);
        replay.Cursor = replay.Selection.FromPosition - 1;
        messages.Add(new PlanReplay(replay.Id, replay.Selection));
        return (replay, messages);
    }

    public OutgoingMessages Handle(ReplayPlanned planned, TimeProvider clock)
    {
        var messages = new OutgoingMessages();
        if (IsOver || StartedAt is not null)
        {
            return messages;
        }

        Selection = Selection with { ToPosition = planned.ToPosition };
        EventsTotal = planned.EventsTotal;
        StartedAt = clock.GetUtcNow();
        if (Status == ReplayStatus.Requested)
        {
            Status = ReplayStatus.Running;
        }

        messages.Add(new ReplayStarted(Id, Target, Mode, Selection.FromPosition, Selection.ToPosition, EventsTotal));
        Continue(clock, messages);
        return messages;
    }

    public OutgoingMessages Handle(ReplayBatchesSent sent, TimeProvider clock)
    {
        var messages = new OutgoingMessages();
        var fresh = sent.FirstSequence == NextSequence && InFlight.All(batch => batch.Sequence != sent.FirstSequence);
        if (fresh)
        {
            // Only the answer to the current read moves the cursor; a re-sent batch is already counted and in flight.
            Reading = false;
            foreach (var batch in sent.Batches)
            {
                NextSequence = batch.Sequence + 1;
                Cursor = Math.Max(Cursor, batch.LastPosition);
                if (batch.Count > 0)
                {
                    EventsSent += batch.Count;
                    InFlight.Add(new InFlightBatch(batch.Sequence, batch.After, batch.LastPosition, batch.Count, 1, clock.GetUtcNow()));
                }
            }

            // Answers that came before this news are counted only now that the whole read is recorded: counting one
            // mid-way could ask for the next read from a cursor and sequence that the rest of this read then moves.
            foreach (var early in Early.Where(answer => answer.Sequence < NextSequence).ToList())
            {
                Early.Remove(early);
                Tally(early, clock, messages);
            }

            if (InFlight.Count > 0 && !CheckScheduled)
            {
                CheckScheduled = true;
                messages.Add(new ReplayCheck(Id));
            }
        }

        Continue(clock, messages);
        return messages;
    }

    public OutgoingMessages Handle(ReplayBatchApplied applied, TimeProvider clock)
    {
        var messages = new OutgoingMessages();
        if (applied.Sequence >= NextSequence && !IsOver)
        {
            // The consumer answered before this saga heard that the batch went out: keep the answer for then.
            Early.Add(applied);
            return messages;
        }

        Tally(applied, clock, messages);
        Continue(clock, messages);
        return messages;
    }

    /// <summary>
    /// Counts an answer to batches in flight (once: later answers to the same batches are ignored). A consumer answers
    /// several batches at once only for consecutive batches it never applied before (never a redelivered or re-sent
    /// one), so an answer covers either batches all still in flight or none.
    /// </summary>
    private void Tally(ReplayBatchApplied applied, TimeProvider clock, OutgoingMessages messages)
    {
        var covered = applied.Covered;
        if (InFlight.RemoveAll(b => covered.Contains(b.Sequence)) == 0)
        {
            return; // an answer to a batch that was re-sent and already answered, or to a replay that ended
        }

        EventsApplied += applied.Applied;
        EventsSkipped += applied.Skipped;
        EventsParked += applied.Parked;
        EventsRejected += applied.Rejected;
        var now = clock.GetUtcNow();
        if (ProgressedAt is null || now - ProgressedAt >= ProgressInterval)
        {
            ProgressedAt = now;
            messages.Add(new ReplayProgressed(Id, Cursor, EventsSent, EventsApplied, EventsSkipped, EventsPerSecond(now)));
        }
    }

    public OutgoingMessages Handle(ReplayCheck check, TimeProvider clock)
    {
        var messages = new OutgoingMessages();
        CheckScheduled = false;
        if (IsOver)
        {
            return messages;
        }

        var now = clock.GetUtcNow();
        if (Reading && ReadingSince is { } since && now - since >= ReadTimeout)
        {
            // The read's answer was lost (or is very late): ask again (once resumed, if paused). A late first answer
            // is then ignored.
            Reading = false;
            Continue(clock, messages);
        }

        foreach (var batch in InFlight.Where(b => now - b.SentAt >= AnswerWait(b.Attempt)).ToList())
        {
            if (batch.Attempt >= MaxSends)
            {
                Fail($"{Target} did not answer batch {batch.Sequence} (positions {batch.After + 1}-{batch.LastPosition}) after "
                    + $"{batch.Attempt} sends; see its dead-letter queue and logs.", clock, messages);
                if (Mode == ReplayModes.Rebuild)
                {
                    messages.Add(new AbandonRebuild(Id, Target));
                }

                InFlight.Clear();
                return messages;
            }

            // No answer: send the same slice again. The consumer's version rule makes a second delivery harmless.
            InFlight[InFlight.IndexOf(batch)] = batch with { Attempt = batch.Attempt + 1, SentAt = now };
            messages.Add(new SendReplayBatches(Id, batch.Sequence, 1, Target, Mode, batch.After, batch.Count,
                Selection with { ToPosition = batch.LastPosition }));
        }

        if ((InFlight.Count > 0 || Reading) && !CheckScheduled)
        {
            CheckScheduled = true;
            messages.Add(new ReplayCheck(Id));
        }

        return messages;
    }

    public OutgoingMessages Handle(ReplayFollowed followed, TimeProvider clock)
    {
        var messages = new OutgoingMessages();
        Reading = false;
        if (IsOver || CutOverAttempt > 0 || Status != ReplayStatus.Running)
        {
            return messages; // paused: resuming follows the head again
        }

        FollowRounds++;
        if (followed.Added <= MaxCutOverTail || FollowRounds >= MaxFollowRounds)
        {
            // A short tail (or live traffic outpacing the rounds): the target applies the tail itself, straight from
            // the store, while it holds live events for the swap.
            CutOverAttempt = 1;
            messages.Add(new CutOverRebuild(Id, Target));
            messages.Add(new CutOverTimeout(Id, 1));
            return messages;
        }

        Selection = Selection with { ToPosition = followed.ToPosition };
        EventsTotal += followed.Added;
        Continue(clock, messages);
        return messages;
    }

    public OutgoingMessages Handle(RebuildCutOverDone done, TimeProvider clock)
    {
        var messages = new OutgoingMessages();
        if (CutOverAttempt > 0 && !IsOver)
        {
            Cursor = Math.Max(Cursor, done.Position);
            if (CancelRequested)
            {
                Error = "A cancel arrived while the rebuild was cutting over; the cut-over had already been asked for and happened.";
            }

            Complete(clock, messages);
        }

        return messages;
    }

    public OutgoingMessages Handle(CutOverTimeout timeout, TimeProvider clock)
    {
        var messages = new OutgoingMessages();
        if (IsOver || timeout.Attempt != CutOverAttempt)
        {
            return messages;
        }

        if (CutOverAttempt >= MaxCutOverAttempts)
        {
            Fail($"{Target} did not confirm the cut-over after {MaxCutOverAttempts} requests"
                + (CancelRequested ? " (and a cancel arrived meanwhile)." : "."), clock, messages);
            messages.Add(new AbandonRebuild(Id, Target));
            return messages;
        }

        // Asking again is safe: a target that already cut over for this replay answers without doing it twice.
        CutOverAttempt++;
        messages.Add(new CutOverRebuild(Id, Target));
        messages.Add(new CutOverTimeout(Id, CutOverAttempt));
        return messages;
    }

    public OutgoingMessages Handle(ReplayRefused refused, TimeProvider clock)
    {
        var messages = new OutgoingMessages();
        if (!IsOver)
        {
            Fail(refused.Reason, clock, messages);
        }

        return messages;
    }

    public OutgoingMessages Handle(PauseReplay pause, TimeProvider clock, Envelope envelope, IDocumentSession session)
    {
        ReplayAudit.QueueIfAmqp(session, envelope, "replay.pause", Id);
        return Pause(clock);
    }

    public OutgoingMessages Pause(TimeProvider clock)
    {
        if (Status is ReplayStatus.Running or ReplayStatus.Requested)
        {
            Status = ReplayStatus.Paused;
        }

        return [];
    }

    public OutgoingMessages Handle(ResumeReplay resume, TimeProvider clock, Envelope envelope, IDocumentSession session)
    {
        ReplayAudit.QueueIfAmqp(session, envelope, "replay.resume", Id);
        return Resume(clock);
    }

    public OutgoingMessages Resume(TimeProvider clock)
    {
        var messages = new OutgoingMessages();
        if (Status == ReplayStatus.Paused)
        {
            Status = StartedAt is null ? ReplayStatus.Requested : ReplayStatus.Running;
            Continue(clock, messages);
        }

        return messages;
    }

    public OutgoingMessages Handle(CancelReplay cancel, TimeProvider clock, Envelope envelope, IDocumentSession session)
    {
        ReplayAudit.QueueIfAmqp(session, envelope, "replay.cancel", Id);
        return Cancel(clock);
    }

    public OutgoingMessages Cancel(TimeProvider clock)
    {
        var messages = new OutgoingMessages();
        if (!IsOver && CutOverAttempt > 0)
        {
            // The target may already have swapped the copies (its queue takes the cut-over before any abandon): the
            // answer to the cut-over decides, and the cancel is noted on the replay.
            CancelRequested = true;
        }
        else if (!IsOver)
        {
            Status = ReplayStatus.Cancelled;
            CompletedAt = clock.GetUtcNow();
            InFlight.Clear();
            messages.Add(new ReplayCancelled(Id, Cursor));
            if (Mode == ReplayModes.Rebuild)
            {
                messages.Add(new AbandonRebuild(Id, Target));
            }
        }

        return messages;
    }

    /// <summary>Messages for a replay that does not exist (or no longer does) are dropped.</summary>
    public static void NotFound(ReplayBatchApplied applied)
    {
    }

    public static void NotFound(ReplayBatchesSent sent)
    {
    }

    public static void NotFound(ReplayCheck check)
    {
    }

    public static void NotFound(ReplayPlanned planned)
    {
    }

    public static void NotFound(ReplayFollowed followed)
    {
    }

    public static void NotFound(RebuildCutOverDone done)
    {
    }

    public static void NotFound(CutOverTimeout timeout)
    {
    }

    public static void NotFound(ReplayRefused refused)
    {
    }

    public static void NotFound(PauseReplay pause)
    {
    }

    public static void NotFound(ResumeReplay resume)
    {
    }

    public static void NotFound(CancelReplay cancel)
    {
    }

    /// <summary>How long a batch sent <paramref name="sends"/> times waits for its answer: 30 s, 60 s, then 2 minutes.</summary>
    public static TimeSpan AnswerWait(int sends) =>
        TimeSpan.FromTicks(Math.Min(AckTimeout.Ticks << Math.Min(sends - 1, 10), MaxAckTimeout.Ticks));

    public bool IsOver => Status is ReplayStatus.Completed or ReplayStatus.Cancelled or ReplayStatus.Failed;

    /// <summary>
    /// The status a client sees: a paused replay whose last read was already under way when the pause came still
    /// shows <c>running</c> until that read is sent and counted, so <c>paused</c> means nothing more goes out. (A read
    /// still waiting for its turn under the rate limit is held when its turn comes: that replay shows paused at once.)
    /// </summary>
    public string VisibleStatus(DateTimeOffset now) =>
        Status == ReplayStatus.Paused && Reading && ReadingSince is { } since && since <= now ? ReplayStatus.Running : Status;

    public double EventsPerSecond(DateTimeOffset now)
    {
        var end = CompletedAt ?? now;
        var seconds = StartedAt is { } started ? (end - started).TotalSeconds : 0;
        return seconds > 0 ? (EventsApplied + EventsSkipped + EventsParked + EventsRejected) / seconds : 0;
    }

    /// <summary>One read at a time; the check asks again for a read whose answer never comes.</summary>
    private void StartReading(TimeProvider clock, TimeSpan delay, OutgoingMessages messages)
    {
        Reading = true;
        ReadingSince = clock.GetUtcNow() + delay;
        if (!CheckScheduled)
        {
            CheckScheduled = true;
            messages.Add(new ReplayCheck(Id));
        }
    }

    private void Complete(TimeProvider clock, OutgoingMessages messages)
    {
        Status = ReplayStatus.Completed;
        CompletedAt = clock.GetUtcNow();
        messages.Add(new ReplayCompleted(Id, EventsApplied, EventsSkipped, (CompletedAt.Value - StartedAt!.Value).TotalSeconds));
    }

    public void Fail(string error, TimeProvider clock, OutgoingMessages messages)
    {
        Status = ReplayStatus.Failed;
        Error = error;
        CompletedAt = clock.GetUtcNow();
        messages.Add(new ReplayFailed(Id, error));
    }

    /// <summary>The next step: ask for another batch, wait (rate limit), or finish.</summary>
    private void Continue(TimeProvider clock, OutgoingMessages messages)
    {
        if (Status != ReplayStatus.Running || Reading)
        {
            return;
        }

        if (Cursor >= Selection.ToPosition)
        {
            if (InFlight.Count > 0 || CutOverAttempt > 0)
            {
                return;
            }

            if (Mode == ReplayModes.Rebuild)
            {
                // Everything planned is applied to the fresh copy: follow the head until only a short tail is left.
                StartReading(clock, TimeSpan.Zero, messages);
                messages.Add(new FollowReplay(Id, Selection.ToPosition));
                return;
            }

            Complete(clock, messages);
            return;
        }

        // Large batches get a smaller window, so what waits in the broker and what one read holds stay bounded.
        var window = Math.Clamp(MaxEventsInFlight / Math.Max(BatchSize, 1), 2, MaxInFlight);
        if (InFlight.Count > window - window / 2)
        {
            return;
        }

        // Rate-limited replays read a batch at a time, so the limit holds batch by batch.
        var batches = MaxEventsPerSecond is null ? window - InFlight.Count : 1;
        var next = new SendReplayBatches(Id, NextSequence, batches, Target, Mode, Cursor, BatchSize, Selection);
        var wait = MaxEventsPerSecond is { } rate && StartedAt is { } started
            ? started + TimeSpan.FromSeconds((double)EventsSent / rate) - clock.GetUtcNow()
            : TimeSpan.Zero;
        StartReading(clock, wait > TimeSpan.Zero ? wait : TimeSpan.Zero, messages);
        messages.Add(wait > TimeSpan.Zero ? next.DelayedFor(wait) : next);
    }
}
