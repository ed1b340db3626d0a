using EventReplay.Hosting;
using EventReplay.Messaging;

namespace EventReplay.Consumers.Balances.Balances;

/// <summary>
/// Account rows in Redis under <c>balances:v{generation}:account:{id}</c>, versioned by stream version. Reads use the
/// live copy's generation; a rebuild fills the next generation, which the cut-over makes live.
/// </summary>
public sealed class BalanceCache(VersionedCache cache, ReadModelCopies copies)
{
    public static string Key(int generation, string accountId) => $"balances:v{generation}:account:{accountId}";

    public Task<AccountBalance?> GetAsync(string accountId) => cache.GetAsync<AccountBalance>(Key(copies.Live.Generation, accountId));

    public Task<bool> SetAsync(IReadOnlyCollection<AccountBalance> rows) => SetAsync(rows, copies.Live);

    public Task<bool> SetAsync(IReadOnlyCollection<AccountBalance> rows, ReadModelCopy copy) =>
        cache.SetAsync([.. rows.Select(row => (Key(copy.Generation, row.AccountId), row.Version, row))]);
}
