using EventReplay.Contracts;
using EventReplay.Hosting;
using Npgsql;

namespace EventReplay.Messaging;

/// <summary>A consumer's read model as its queues see it: one apply step for live and replayed events.</summary>
public interface IEventBatchHandler
{
    /// <summary>Creates the read model's tables in a schema (the live copy, or a fresh copy for a rebuild).</summary>
    Task EnsureSchemaAsync(string schema, CancellationToken cancellationToken);

    /// <summary>
    /// Applies a batch, in position order, to one copy of the read model (starting with
    /// <see cref="ReadModelCopies.BeginApplyAsync"/> in its transaction, and writing the cache of the copy that returns,
    /// then telling <see cref="ReadModelCopies"/> whether that write succeeded) and says what became of its events, with the
    /// reason for each one that can never be applied. Throws when the batch could not be applied at all (nothing was
    /// written); the caller then retries it.
    /// </summary>
    Task<BatchOutcome> ApplyAsync(IReadOnlyList<RecordedEvent> batch, ReadModelCopy copy, CancellationToken cancellationToken);

    /// <summary>The last position applied to the copy in a schema.</summary>
    Task<long> CheckpointAsync(NpgsqlConnection connection, string schema, CancellationToken cancellationToken);

    /// <summary>
    /// Writes to the copy's cache generation, from PostgreSQL (read on <paramref name="connection"/>, which holds the
    /// copy's apply lock), the entries of the rows that the given applies changed; false when the cache could not take them.
    /// </summary>
    Task<bool> RecacheAsync(NpgsqlConnection connection, ReadModelCopy copy, long[] applies, CancellationToken cancellationToken);
}

public sealed record Rejected(RecordedEvent Event, string Reason);

/// <summary>What a batch did: events applied, skipped as already applied, parked behind a gap, and rejected.</summary>
public sealed record BatchOutcome(int Applied, int Skipped, int Parked, IReadOnlyList<Rejected> Rejected);
