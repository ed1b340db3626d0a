using EventReplay.Contracts;
using Npgsql;

namespace EventReplay.Hosting.Consuming;

/// <summary>A consumer's read model as its queues see it: one apply step for live and replayed events.</summary>
public interface IEventBatchHandler
{
    /// <summary>Creates the read model's tables in a schema (the live copy, or a fresh copy for a rebuild).</summary>
    Task EnsureSchemaAsync(string schema, CancellationToken cancellationToken);

    /// <summary>
    /// Applies a batch, in position order, to one copy of the read model and says what became of its events, with the
    /// reason for each one that can never be applied. Throws when the batch could not be applied at all (nothing was
    /// written); the caller then retries it.
    /// </summary>
    Task<BatchOutcome> ApplyAsync(IReadOnlyList<RecordedEvent> batch, ReadModelCopy copy, CancellationToken cancellationToken);

    /// <summary>The last position applied to the copy in a schema.</summary>
    Task<long> CheckpointAsync(NpgsqlConnection connection, string schema, CancellationToken cancellationToken);

    /// <summary>Called when the queue is idle, for deferred work such as refreshing a cache that was down.</summary>
    Task IdleAsync(CancellationToken cancellationToken);
}

public sealed record Rejected(RecordedEvent Event, string Reason);

/// <summary>What a batch did: events applied, skipped as already applied, parked behind a gap, and rejected.</summary>
public sealed record BatchOutcome(int Applied, int Skipped, int Parked, IReadOnlyList<Rejected> Rejected);
