using EventReplay.Contracts;

namespace EventReplay.Hosting.Consuming;

/// <summary>A consumer's apply step for a batch of recorded events, in position order.</summary>
public interface IEventBatchHandler
{
    /// <summary>
    /// Applies the batch and returns the events that can never be applied, with the reason. Throws when the
    /// batch could not be applied at all (nothing was written); the caller then retries it.
    /// </summary>
    Task<IReadOnlyList<Rejected>> ApplyAsync(IReadOnlyList<RecordedEvent> batch, CancellationToken cancellationToken);

    /// <summary>Called when the queue is idle, for deferred work such as refreshing a cache that was down.</summary>
    Task IdleAsync(CancellationToken cancellationToken);
}

public sealed record Rejected(RecordedEvent Event, string Reason);
