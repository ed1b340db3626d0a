using EventReplay.Hosting;

namespace EventReplay.Consumers.Balances.Balances;

/// <summary>Account rows in Redis under <c>balances:v1:account:{id}</c>, versioned by stream version.</summary>
public sealed class BalanceCache(VersionedCache cache)
{
    public const string KeyPrefix = "balances:v1:account:";

    public Task<AccountBalance?> GetAsync(string accountId) => cache.GetAsync<AccountBalance>(KeyPrefix + accountId);

    public Task<bool> SetAsync(IReadOnlyCollection<AccountBalance> rows) =>
        cache.SetAsync([.. rows.Select(row => (KeyPrefix + row.AccountId, row.Version, row))]);
}
