namespace EventReplay.Hosting.Monitoring;

/// <summary>A process's own figures since its last heartbeat, sent with the next one (a consumer's rates and times).</summary>
public interface IHeartbeatMetrics
{
    IReadOnlyDictionary<string, double> TakeInterval();
}
