using EventReplay.Contracts;
using EventReplay.Hosting;
using EventReplay.Hosting.Monitoring;

namespace EventReplay.Messaging;

/// <summary>
/// What a consumer's live queue did since it was last asked (each heartbeat asks): events applied, the time spent
/// applying them, and their critical time (committed to the event store → applied here), average and highest; and the
/// position of the last event its live copy applied (its checkpoint), from which the monitor tells its lag.
/// </summary>
public sealed class ConsumerMetrics(LastAppliedEvent last, TimeProvider clock) : IHeartbeatMetrics
{
    private readonly Lock _gate = new();
    private long _events;
    private long _batches;
    private TimeSpan _processing;
    private double _criticalSumMs;
    private double _criticalMaxMs;
    private DateTimeOffset _since = clock.GetUtcNow();

    /// <summary>A batch of the live queue applied: its events, how long applying them took.</summary>
    public void Applied(IReadOnlyList<RecordedEvent> events, TimeSpan processing)
    {
        var now = clock.GetUtcNow();
        lock (_gate)
        {
            _batches++;
            _processing += processing;
            foreach (var recorded in events)
            {
                var critical = Math.Max(0, (now - recorded.Timestamp).TotalMilliseconds);
                _events++;
                _criticalSumMs += critical;
                _criticalMaxMs = Math.Max(_criticalMaxMs, critical);
            }
        }
    }

    /// <summary>The figures since the last call, and a new interval begun.</summary>
    public IReadOnlyDictionary<string, double> TakeInterval()
    {
        var now = clock.GetUtcNow();
        lock (_gate)
        {
            var seconds = Math.Max(0.001, (now - _since).TotalSeconds);
            var figures = new Dictionary<string, double>
            {
                ["eventsApplied"] = _events,
                ["eventsPerSecond"] = Math.Round(_events / seconds, 1),
                ["processingMsPerEvent"] = _events == 0 ? 0 : Math.Round(_processing.TotalMilliseconds / _events, 3),
                ["processingMsPerBatch"] = _batches == 0 ? 0 : Math.Round(_processing.TotalMilliseconds / _batches, 1),
                ["criticalTimeMsAverage"] = _events == 0 ? 0 : Math.Round(_criticalSumMs / _events, 1),
                ["criticalTimeMsMax"] = Math.Round(_criticalMaxMs, 1),
            };
            if (last.Current.Position is { } checkpoint)
            {
                figures["checkpoint"] = checkpoint;
            }

            (_events, _batches, _processing, _criticalSumMs, _criticalMaxMs, _since) = (0, 0, TimeSpan.Zero, 0, 0, now);
            return figures;
        }
    }
}
