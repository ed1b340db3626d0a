using EventReplay.Contracts;
using EventReplay.Contracts.Replays;
using Marten;

namespace EventReplay.Replay.Replays;

/// <summary>The saga's I/O: finding the end of a selection, and reading one batch and sending it to the target.</summary>
public static class ReplayStepsHandler
{
    public static async Task<object> Handle(PlanReplay plan, ReplayLog log, IQuerySession session, CancellationToken cancellationToken)
    {
        if (await ReplayRules.RunningRebuildAsync(session, plan.ReplayId, cancellationToken) is { } other)
        {
            return new ReplayRefused(plan.ReplayId, $"Rebuild {other.Id} of {other.Target} is still running.");
        }

        // Appends in flight can hold the safe head back for a moment; the message is retried (see Program).
        var (to, total) = await log.PlanAsync(plan.Selection, cancellationToken)
            ?? throw new TimeoutException("The event store's safe head is not known yet.");
        return new ReplayPlanned(plan.ReplayId, to, total);
    }

    public static async Task<ReplayFollowed> Handle(FollowReplay follow, ReplayLog log, CancellationToken cancellationToken)
    {
        var selection = new ReplaySelection(follow.After + 1, long.MaxValue, null, null, null, null);
        var (to, added) = await log.PlanAsync(selection, cancellationToken)
            ?? throw new TimeoutException("The event store's safe head is not known yet.");
        return new ReplayFollowed(follow.ReplayId, Math.Max(to, follow.After), added);
    }

    public static Task Handle(CutOverRebuild cutOver, ReplayBatchPublisher publisher, CancellationToken cancellationToken) =>
        publisher.PublishAsync(cutOver.Target, Topology.RebuildCutOverType, $"{cutOver.ReplayId}/cut-over",
            new RebuildCutOver(cutOver.ReplayId), cancellationToken);

    public static Task Handle(AbandonRebuild abandon, ReplayBatchPublisher publisher, CancellationToken cancellationToken) =>
        publisher.PublishAsync(abandon.Target, Topology.RebuildAbandonedType, $"{abandon.ReplayId}/abandon",
            new RebuildAbandoned(abandon.ReplayId), cancellationToken);

    public static async Task<ReplayBatchSent> Handle(SendReplayBatch send, ReplayLog log, ReplayBatchPublisher publisher,
        IQuerySession session, CancellationToken cancellationToken)
    {
        // A read asked for before a pause or cancel (or delayed by the rate limit) is held, not sent; a batch that is
        // already in flight is sent again whatever the state (it was counted when first sent).
        if (await session.LoadAsync<Replay>(send.ReplayId, cancellationToken) is { } replay
            && send.Sequence >= replay.NextSequence && replay.Status != ReplayStatus.Running)
        {
            return new ReplayBatchSent(send.ReplayId, send.Sequence, send.After, send.After, 0, Held: true);
        }

        var events = await log.ReadAsync(send.Selection, send.After, send.BatchSize, cancellationToken);
        if (events.Count == 0)
        {
            return new ReplayBatchSent(send.ReplayId, send.Sequence, send.After, send.Selection.ToPosition, 0);
        }

        await publisher.PublishAsync(send.Target, new ReplayBatch(send.ReplayId, send.Sequence, send.Mode, events), cancellationToken);
        // A short page means the selection has nothing more up to its end.
        var last = events.Count < send.BatchSize ? send.Selection.ToPosition : events[^1].Position;
        return new ReplayBatchSent(send.ReplayId, send.Sequence, send.After, last, events.Count);
    }
}
