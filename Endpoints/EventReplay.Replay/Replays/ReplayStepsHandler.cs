using EventReplay.Contracts.Replays;

namespace EventReplay.Replay.Replays;

/// <summary>The saga's I/O: finding the end of a selection, and reading one batch and sending it to the target.</summary>
public static class ReplayStepsHandler
{
    public static async Task<ReplayPlanned> Handle(PlanReplay plan, ReplayLog log, CancellationToken cancellationToken)
    {
        // Appends in flight can hold the safe head back for a moment; the message is retried (see Program).
        var (to, total) = await log.PlanAsync(plan.Selection, cancellationToken)
            ?? throw new TimeoutException("The event store's safe head is not known yet.");
        return new ReplayPlanned(plan.ReplayId, to, total);
    }

    public static async Task<ReplayBatchSent> Handle(SendReplayBatch send, ReplayLog log, ReplayBatchPublisher publisher,
        CancellationToken cancellationToken)
    {
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
