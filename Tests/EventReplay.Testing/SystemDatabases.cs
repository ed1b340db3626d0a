namespace EventReplay.Testing;

/// <summary>
/// The system's two PostgreSQL databases as connection strings: the event store (the log, the publisher's checkpoint)
/// and the read models (the consumers' tables and checkpoints, the replay sagas).
/// </summary>
public sealed record SystemDatabases(string EventStore, string ReadModels)
{
    /// <summary>Both databases on one server, as a deployment that has not split them runs.</summary>
    public static SystemDatabases OneServer(string connectionString) => new(connectionString, connectionString);
}
