using System.Collections.Concurrent;

namespace EventReplay.Testing;

/// <summary>A command the API acknowledged (2xx): the event it says it appended.</summary>
public sealed record Acknowledged(string AccountId, long Version, long Position, string Type, decimal? Amount);

/// <summary>
/// What a test's clients were told: every acknowledged command (to be found in the log afterwards, once) and every
/// read of an account whose version was older than a read of it before.
/// </summary>
public sealed class Ledger
{
    private readonly ConcurrentQueue<Acknowledged> _acknowledged = new();
    private readonly ConcurrentQueue<string> _wentBack = new();
    private int _reads;

    public IReadOnlyCollection<Acknowledged> Acknowledged => _acknowledged;

    public IReadOnlyCollection<string> ReadsGoneBack => _wentBack;

    public int Reads => _reads;

    public void Add(Acknowledged acknowledged) => _acknowledged.Enqueue(acknowledged);

    public void Read() => Interlocked.Increment(ref _reads);

    public void WentBack(string read) => _wentBack.Enqueue(read);
}
