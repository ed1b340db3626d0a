using System.Text.Json.Serialization;

namespace EventReplay.Contracts.Replays;

/// <summary>How a replay treats its target: re-send into the live read model, or build a fresh copy and cut over.</summary>
public static class ReplayModes
{
    public const string Redeliver = "redeliver";
    public const string Rebuild = "rebuild";

    public static readonly IReadOnlyList<string> All = [Redeliver, Rebuild];
}

/// <summary>
/// A slice of the log, in position order, sent by the replay service to one consumer's replay queue
/// (<see cref="Topology.ReplayQueue"/>). The consumer applies it with the same function as live events.
/// </summary>
public sealed record ReplayBatch(string ReplayId, int Sequence, string Mode, IReadOnlyList<RecordedEvent> Events);

/// <summary>
/// A consumer's answer to a <see cref="ReplayBatch"/>, on <see cref="Topology.ReplayAcksQueue"/>, once the batch is
/// committed: how many events changed the read model, how many it already had (duplicates by version), how many
/// wait for an earlier version (parked) and how many can never apply (dead-lettered). A consumer that finds several
/// batches of one replay waiting applies them in one transaction and answers them at once: <paramref name="Sequences"/>
/// lists them (null: just <paramref name="Sequence"/>), <paramref name="Sequence"/> is the highest of them and the
/// counts are their sum.
/// </summary>
public sealed record ReplayBatchApplied(string ReplayId, int Sequence, int Applied, int Skipped, int Parked, int Rejected,
    long LastPosition, IReadOnlyList<int>? Sequences = null)
{
    /// <summary>Every batch this answer covers.</summary>
    [JsonIgnore]
    public IReadOnlyList<int> Covered => Sequences ?? [Sequence];
}

/// <summary>
/// Sent by the replay service to a consumer's replay queue when a rebuild has sent everything up to (nearly) the
/// store's head: the consumer holds its live events, applies the rest of the log to the fresh copy, swaps the copies
/// and answers <see cref="RebuildCutOverDone"/>.
/// </summary>
public sealed record RebuildCutOver(string ReplayId);

/// <summary>The consumer's answer: the fresh copy serves from now on, complete up to <paramref name="Position"/>.</summary>
public sealed record RebuildCutOverDone(string ReplayId, long Position);

/// <summary>A cancelled rebuild: the consumer drops the fresh copy it was building and keeps serving the live one.</summary>
public sealed record RebuildAbandoned(string ReplayId);
