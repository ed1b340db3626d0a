using EventReplay.Contracts;

namespace EventReplay.Hosting.Consuming;

/// <summary>A consumer's apply step for a batch of recorded events, in position order.</summary>
public interface IEventBatchHandler
{
    /// <summary>
    /// Applies the batch and says what became of its events, with the reason for each one that can never be
    /// applied. Throws when the batch could not be applied at all (nothing was written); the caller then retries it.
    /// </summary>
    Task<BatchOutcome> ApplyAsync(IReadOnlyList<RecordedEvent> batch, CancellationToken cancellationToken);

    /// <summary>Called when the queue is idle, for deferred work such as refreshing a cache that was down.</summary>
    Task IdleAsync(CancellationToken cancellationToken);
}

public sealed record Rejected(RecordedEvent Event, string Reason);

/// <summary>What a batch did: events applied, skipped as already applied, parked behind a gap, and rejected.</summary>
public sealed record BatchOutcome(int Applied, int Skipped, int Parked, IReadOnlyList<Rejected> Rejected);
