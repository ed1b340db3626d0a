using EventReplay.Contracts;
using EventReplay.Contracts.Replays;
using Marten;

namespace EventReplay.Replay.Replays;

/// <summary>The saga's I/O: finding the end of a selection, reading batches and sending them (and rebuild controls) to the target.</summary>
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

    public static async Task<ReplayBatchesSent> Handle(SendReplayBatches send, ReplayLog log, ReplayBatchPublisher publisher,
        IQuerySession session, CancellationToken cancellationToken)
    {
        // A read asked for before a pause or cancel (or delayed by the rate limit) is held, not sent; a batch that is
        // already in flight is sent again whatever the state (it was counted when first sent).
        if (await session.LoadAsync<Replay>(send.ReplayId, cancellationToken) is { } replay
            && send.FirstSequence >= replay.NextSequence && replay.Status != ReplayStatus.Running)
        {
            return new ReplayBatchesSent(send.ReplayId, send.FirstSequence, [], Held: true);
        }

        var limit = send.Batches * send.BatchSize;
        var batches = new List<ReplayBatchWriter>(send.Batches);
        try
        {
            // Written into batches as the rows come: no object per event.
            var read = await log.ReadAsync(send.Selection, send.After, limit, (position, streamId, version, type, timestamp, data) =>
            {
                if (batches.Count == 0 || batches[^1].Count == send.BatchSize)
                {
                    batches.Add(new ReplayBatchWriter(send.ReplayId, send.FirstSequence + batches.Count, send.Mode, send.BatchSize));
                }

                batches[^1].Add(position, streamId, version, type, timestamp, data);
            }, cancellationToken);
            if (read == 0)
            {
                return new ReplayBatchesSent(send.ReplayId, send.FirstSequence,
                    [new SentBatch(send.FirstSequence, send.After, send.Selection.ToPosition, 0)]);
            }

            var sent = new List<SentBatch>(batches.Count);
            var after = send.After;
            foreach (var batch in batches)
            {
                sent.Add(new SentBatch(batch.Sequence, after, batch.LastPosition, batch.Count));
                after = batch.LastPosition;
            }

            await publisher.PublishAsync(send.Target, send.ReplayId, [.. batches.Select(batch => (batch.Sequence, batch.Finish()))],
                cancellationToken);

            if (read < limit)
            {
                // A short read means the selection has nothing more up to its end.
                sent[^1] = sent[^1] with { LastPosition = send.Selection.ToPosition };
            }

            return new ReplayBatchesSent(send.ReplayId, send.FirstSequence, sent);
        }
        finally
        {
            // Every publish of the read has ended (confirmed, failed or cancelled): the client holds no body any more.
            foreach (var batch in batches)
            {
                batch.Dispose();
            }
        }
    }

    public static Task Handle(CutOverRebuild cutOver, ReplayBatchPublisher publisher, CancellationToken cancellationToken) =>
        publisher.PublishAsync(cutOver.Target, Topology.RebuildCutOverType, $"{cutOver.ReplayId}/cut-over",
            new RebuildCutOver(cutOver.ReplayId), cancellationToken);

    public static Task Handle(AbandonRebuild abandon, ReplayBatchPublisher publisher, CancellationToken cancellationToken) =>
        publisher.PublishAsync(abandon.Target, Topology.RebuildAbandonedType, $"{abandon.ReplayId}/abandon",
            new RebuildAbandoned(abandon.ReplayId), cancellationToken);
}
