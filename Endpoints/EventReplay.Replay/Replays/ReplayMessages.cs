using Wolverine;
using Wolverine.Attributes;

namespace EventReplay.Replay.Replays;

// The replay service's own messages. Commands carry short wire names so any AMQP client can send them with the
// `type` property alone; they live here rather than in Contracts because the names come from Wolverine's attribute.

/// <summary>
/// Starts a replay (the body of <c>POST /api/replays</c>, or raw JSON on <c>replay.commands</c>). Who asked is not the
/// sender's to say: over HTTP it is the token's name, over AMQP the broker's validated <c>user_id</c>; what the sender
/// says (<c>X-Requested-By</c>, a body's <c>requestedBy</c>) is kept as <see cref="OnBehalfOf"/>.
/// </summary>
[MessageIdentity("StartReplay")]
public sealed record StartReplay(
    string? ReplayId,
    string? Target,
    string? Mode,
    long? FromPosition = null,
    long? ToPosition = null,
    DateTimeOffset? FromTime = null,
    DateTimeOffset? ToTime = null,
    string[]? StreamIds = null,
    string[]? EventTypes = null,
    int? BatchSize = null,
    int? MaxEventsPerSecond = null,
    string? Reason = null,
    string? RequestedBy = null,
    string? OnBehalfOf = null);

[MessageIdentity("PauseReplay")]
public sealed record PauseReplay(string ReplayId);

[MessageIdentity("ResumeReplay")]
public sealed record ResumeReplay(string ReplayId);

[MessageIdentity("CancelReplay")]
public sealed record CancelReplay(string ReplayId);

/// <summary>The AMQP types <c>replay.commands</c> takes: the commands above, by their wire names.</summary>
public static class ReplayCommands
{
    public static readonly IReadOnlySet<string> Names = new HashSet<string>(StringComparer.Ordinal)
    {
        "StartReplay", "PauseReplay", "ResumeReplay", "CancelReplay",
    };
}

/// <summary>Which events a replay sends: a position range, optionally narrowed by time, streams and types.</summary>
public sealed record ReplaySelection(long FromPosition, long ToPosition, DateTimeOffset? FromTime, DateTimeOffset? ToTime,
    string[]? StreamIds, string[]? EventTypes);

// Steps of the saga: it decides, these handlers read the store and send.
public sealed record PlanReplay(string ReplayId, ReplaySelection Selection);

public sealed record ReplayPlanned(string ReplayId, long ToPosition, long EventsTotal);

/// <summary>
/// Read the next <paramref name="Batches"/> batches after a position and send them (sequences from
/// <paramref name="FirstSequence"/> on); one read serves several batches, so the saga is not a round trip per batch.
/// </summary>
public sealed record SendReplayBatches(string ReplayId, int FirstSequence, int Batches, string Target, string Mode, long After,
    int BatchSize, ReplaySelection Selection);

public sealed record SentBatch(int Sequence, long After, long LastPosition, int Count);

/// <summary>What the reader did: sent these batches, or held the read (the replay is paused or over).</summary>
public sealed record ReplayBatchesSent(string ReplayId, int FirstSequence, IReadOnlyList<SentBatch> Batches, bool Held = false);

/// <summary>Looks for a lost read and for batches whose answer is overdue (and asks again) while any are in flight.</summary>
public sealed record ReplayCheck(string ReplayId) : TimeoutMessage(Replay.ReadTimeout);

/// <summary>A rebuild that has sent everything it planned looks again at the store's head (it follows live appends).</summary>
public sealed record FollowReplay(string ReplayId, long After);

public sealed record ReplayFollowed(string ReplayId, long ToPosition, long Added);

/// <summary>Asks the target to make its fresh copy live (sent to its replay queue as <c>RebuildCutOver</c>).</summary>
public sealed record CutOverRebuild(string ReplayId, string Target);

public sealed record CutOverTimeout(string ReplayId, int Attempt) : TimeoutMessage(Replay.AckTimeout);

/// <summary>Tells the target to drop the fresh copy of a cancelled rebuild (sent as <c>RebuildAbandoned</c>).</summary>
public sealed record AbandonRebuild(string ReplayId, string Target);

/// <summary>The planner found a reason the replay cannot run (another rebuild of the same target is running).</summary>
public sealed record ReplayRefused(string ReplayId, string Reason);

// Lifecycle events, published on the replay.events exchange for monitoring.
[MessageIdentity("ReplayStarted")]
public sealed record ReplayStarted(string ReplayId, string Target, string Mode, long FromPosition, long ToPosition, long EventsTotal);

[MessageIdentity("ReplayProgressed")]
public sealed record ReplayProgressed(string ReplayId, long Position, long EventsSent, long EventsApplied, long EventsSkipped,
    double EventsPerSecond);

[MessageIdentity("ReplayCompleted")]
public sealed record ReplayCompleted(string ReplayId, long EventsApplied, long EventsSkipped, double Seconds);

[MessageIdentity("ReplayFailed")]
public sealed record ReplayFailed(string ReplayId, string Error);

[MessageIdentity("ReplayCancelled")]
public sealed record ReplayCancelled(string ReplayId, long Position);

/// <summary>Where a replay stands, as <c>GET /api/replays/{id}</c> shows it.</summary>
public static class ReplayStatus
{
    public const string Requested = "requested";
    public const string Running = "running";
    public const string Paused = "paused";
    public const string Completed = "completed";
    public const string Cancelled = "cancelled";
    public const string Failed = "failed";
}
