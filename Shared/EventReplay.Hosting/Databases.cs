using Npgsql;

namespace EventReplay.Hosting;

/// <summary>
/// The two PostgreSQL databases, each named by its connection string (<c>ConnectionStrings:{name}</c>), and meant to
/// live in clusters of their own: losing the read models' never stops commands, losing the event store never stops
/// reads.
/// </summary>
public static class Databases
{
    /// <summary>The event store: Marten's event tables, idempotency records, the publisher's checkpoint and leader lock.</summary>
    public const string EventStore = "eventstore";

    /// <summary>Everything else: the consumers' read models and checkpoints, the replay sagas and Wolverine's inbox and outbox.</summary>
    public const string ReadModels = "readmodels";
}

/// <summary>
/// The event store as a consumer service reads it: only for the tail of a rebuild's cut-over (the events the fresh copy
/// has not applied yet), straight from the events table. Nothing a consumer serves depends on it.
/// </summary>
public sealed record EventStoreSource(NpgsqlDataSource DataSource);
