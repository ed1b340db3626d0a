using System.Text.Json;

namespace EventReplay.Tests.Integration.Infrastructure;

public sealed record ExpectedBalance(string Owner, decimal Balance, string Status, long Version);

public sealed record ExpectedStatistics(long Accounts, long OpenAccounts, long DepositCount, decimal DepositTotal,
    long WithdrawalCount, decimal WithdrawalTotal, long Position);

/// <summary>
/// The read models' invariant: after the pipeline drains, every consumer's state equals a fold over
/// <c>GET /api/events</c>. Written here from the contract alone, independently of the consumers' code.
/// </summary>
public static class LogFold
{
    public static async Task<(Dictionary<string, ExpectedBalance> Balances, long Head)> BalancesAsync(ProducerApi api)
    {
        var balances = new Dictionary<string, ExpectedBalance>();
        var after = 0L;
        while (true)
        {
            var (events, next) = await api.EventsAsync(after, 10_000);
            if (events.Count == 0)
            {
                return (balances, after);
            }

            foreach (var e in events)
            {
                var id = e.GetProperty("streamId").GetString()!;
                var version = e.GetProperty("version").GetInt64();
                var data = e.GetProperty("data");
                balances[id] = (e.GetProperty("type").GetString(), balances.GetValueOrDefault(id)) switch
                {
                    ("AccountOpened", null) => new ExpectedBalance(data.GetProperty("owner").GetString()!, 0m, "open", version),
                    ("FundsDeposited", { } b) => b with { Balance = b.Balance + Amount(data), Version = version },
                    ("FundsWithdrawn", { } b) => b with { Balance = b.Balance - Amount(data), Version = version },
                    ("AccountClosed", { } b) => b with { Status = "closed", Version = version },
                    var (type, _) => throw new InvalidOperationException($"The log holds {type} v{version} of {id}, which no fold allows."),
                };
            }

            after = next;
        }
    }

    /// <summary>The statistics a fold of the balances implies, plus the counts only the events know.</summary>
    public static async Task<ExpectedStatistics> StatisticsAsync(ProducerApi api)
    {
        long deposits = 0, withdrawals = 0, after = 0;
        decimal depositTotal = 0, withdrawalTotal = 0;
        var accounts = new Dictionary<string, bool>();
        while (true)
        {
            var (events, next) = await api.EventsAsync(after, 10_000);
            if (events.Count == 0)
            {
                return new ExpectedStatistics(accounts.Count, accounts.Count(a => a.Value), deposits, depositTotal, withdrawals,
                    withdrawalTotal, after);
            }

            foreach (var e in events)
            {
                var id = e.GetProperty("streamId").GetString()!;
                switch (e.GetProperty("type").GetString())
                {
                    case "AccountOpened": accounts[id] = true; break;
                    case "AccountClosed": accounts[id] = false; break;
                    case "FundsDeposited": deposits++; depositTotal += Amount(e.GetProperty("data")); break;
                    case "FundsWithdrawn": withdrawals++; withdrawalTotal += Amount(e.GetProperty("data")); break;
                }
            }

            after = next;
        }
    }

    private static decimal Amount(JsonElement data) => data.GetProperty("amount").GetDecimal();
}
