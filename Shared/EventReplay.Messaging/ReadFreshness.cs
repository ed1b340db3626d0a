using System.Globalization;
using EventReplay.Contracts;
using EventReplay.Hosting;
using Microsoft.AspNetCore.Http;

namespace EventReplay.Messaging;

/// <summary>
/// The last event a consumer applied to its live read model: its position in the log and when it was stored. Kept in
/// memory by the live queue's consumer; after a start it is the live copy's checkpoint until the first batch applies.
/// </summary>
public sealed class LastAppliedEvent
{
    private readonly Lock _gate = new();
    private long? _position;
    private DateTimeOffset? _storedAt;

    public (long? Position, DateTimeOffset? StoredAt) Current
    {
        get
        {
            lock (_gate)
            {
                return (_position, _storedAt);
            }
        }
    }

    /// <summary>After a batch applied to the live copy: the newest of its events, unless one before it already said more.</summary>
    public void Applied(RecordedEvent newest)
    {
        lock (_gate)
        {
            if (_position is null || newest.Position >= _position)
            {
                _position = newest.Position;
                _storedAt = newest.Timestamp;
            }
        }
    }

    /// <summary>At start: the live copy's checkpoint, unless a batch has applied since (its time is not known).</summary>
    public void Started(long checkpoint)
    {
        lock (_gate)
        {
            _position ??= checkpoint;
        }
    }
}

/// <summary>
/// What a consumer's read answers say about their own freshness: <c>X-Data-Stale: true</c> on an answer from the cache
/// while the read models' database is unreachable (it may be behind), and on every answer while the event store went
/// back in time under the read model and it is being rebuilt (it may show events the store no longer has);
/// <c>X-Event-Store: unavailable</c> while the event
/// store is down (nothing newer can exist, nor be written), and on every answer the position and age (seconds since it
/// was stored) of the last event the read model applied.
/// </summary>
public sealed class ReadFreshness(PostgresMonitor readModels, EventStoreMonitor eventStore, StoreEpochWatch epochs, LastAppliedEvent last,
    TimeProvider time)
{
    public const string StaleHeader = "X-Data-Stale";
    public const string EventStoreHeader = "X-Event-Store";
    public const string PositionHeader = "X-Last-Event-Position";
    public const string AgeHeader = "X-Last-Event-Age";

    public void Describe(HttpResponse response, bool fromCache)
    {
        if ((fromCache && !readModels.IsReachable) || epochs.Behind)
        {
            response.Headers[StaleHeader] = "true";
        }

        if (!eventStore.IsReachable)
        {
            response.Headers[EventStoreHeader] = "unavailable";
        }

        var (position, storedAt) = last.Current;
        if (position is { } known)
        {
            response.Headers[PositionHeader] = known.ToString(CultureInfo.InvariantCulture);
        }

        if (storedAt is { } stored)
        {
            var age = Math.Max(0, (time.GetUtcNow() - stored).TotalSeconds);
            response.Headers[AgeHeader] = age.ToString("0.0", CultureInfo.InvariantCulture);
        }
    }
}
