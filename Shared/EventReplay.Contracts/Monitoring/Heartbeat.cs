namespace EventReplay.Contracts.Monitoring;

/// <summary>
/// A process of the system says it is alive: every <see cref="Interval"/> on the <see cref="Topology.HeartbeatsExchange"/>,
/// with the state of each dependency it checks, and once more with <see cref="Stopping"/> on a clean shutdown.
/// </summary>
/// <param name="Metrics">A consumer's figures since its previous heartbeat (events applied, processing and critical time).</param>
public sealed record Heartbeat(
    string Endpoint, string InstanceId, string Host, int Pid, string Version, DateTimeOffset StartedAt, DateTimeOffset SentAt,
    bool Stopping, IReadOnlyList<HeartbeatCheck> Checks, IReadOnlyDictionary<string, double>? Metrics = null)
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    /// <summary>Not heard from for this long, an instance is missing.</summary>
    public static readonly TimeSpan MissingAfter = TimeSpan.FromSeconds(15);
}

/// <summary>One of a process's health checks: its name, <c>healthy</c>, <c>degraded</c> or <c>unhealthy</c>, and why.</summary>
public sealed record HeartbeatCheck(string Name, string Status, string? Detail);
