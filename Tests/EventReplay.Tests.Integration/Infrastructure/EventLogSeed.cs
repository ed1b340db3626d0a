using EventReplay.Benchmarks;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>
/// A large history written straight into the producer's event tables (the benchmark harness's <see cref="Seed"/>),
/// interleaved as live traffic writes it, in one transaction holding the append lock like an append does, so readers
/// of the log see all of it or none of it. For tests that need tens of thousands of events without waiting for the
/// HTTP API to write them one by one.
/// </summary>
public static class EventLogSeed
{
    /// <summary>Seeds <paramref name="accounts"/> accounts of <paramref name="eventsPerAccount"/> events; returns their ids.</summary>
    public static async Task<IReadOnlyList<string>> SeedAsync(string postgres, int accounts, int eventsPerAccount)
    {
        var prefix = $"seed-{Guid.NewGuid():N}"[..17];
        await Seed.AppendAsync(postgres, prefix, accounts, eventsPerAccount, Layout.Interleaved, owner: "Seed");
        return [.. Enumerable.Range(1, accounts).Select(a => $"{prefix}-{a}")];
    }
}
