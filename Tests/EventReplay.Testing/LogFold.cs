using System.Text.Json;
using Npgsql;

namespace EventReplay.Testing;

public sealed record ExpectedBalance(string Owner, decimal Balance, string Status, long Version);

public sealed record ExpectedStatistics(long Accounts, long OpenAccounts, long DepositCount, decimal DepositTotal,
    long WithdrawalCount, decimal WithdrawalTotal, long Position);

/// <summary>The read models as they are and as the fold of the log says they should be.</summary>
public sealed record FoldComparison(
    IReadOnlyDictionary<string, ExpectedBalance> Balances, IReadOnlyDictionary<string, ExpectedBalance> ExpectedBalances,
    ExpectedStatistics Statistics, ExpectedStatistics ExpectedStatistics)
{
    /// <summary>Every account that differs (at most <paramref name="limit"/>), and the statistics if they differ.</summary>
    public IReadOnlyList<string> Differences(int limit = 20)
    {
        var differences = ExpectedBalances.Keys.Union(Balances.Keys).Order(StringComparer.Ordinal)
            .Where(id => Balances.GetValueOrDefault(id) != ExpectedBalances.GetValueOrDefault(id))
            .Select(id => $"{id}: read model {Describe(Balances.GetValueOrDefault(id))}, fold {Describe(ExpectedBalances.GetValueOrDefault(id))}")
            .Take(limit).ToList();
        if (Statistics != ExpectedStatistics)
        {
            differences.Add($"statistics: read model {Statistics}, fold {ExpectedStatistics}");
        }

        return differences;
    }

    private static string Describe(ExpectedBalance? balance) => balance?.ToString() ?? "none";
}

/// <summary>
/// The read models' invariant: after the pipeline drains, every consumer's state equals a fold over
/// <c>GET /api/events</c>. Written here from the contract alone, independently of the consumers' code.
/// </summary>
public static class LogFold
{
    /// <summary>Accounts tests write straight to a consumer's queue: never in the log, so no fold has them.</summary>
    public const string SyntheticPrefix = "synthetic-";

    /// <summary>
    /// Folds the log, waits (up to <paramref name="settle"/> for each) until the balances consumer's checkpoint and the
    /// statistics reach its head, and reads both read models (balances from PostgreSQL, statistics through the API).
    /// A wait that runs out throws <see cref="TimeoutException"/>.
    /// </summary>
    public static async Task<FoldComparison> CompareAsync(ProducerApi api, string postgres, TimeSpan settle)
    {
        var (expected, head) = await BalancesAsync(api);
        await Eventually.Until(() => Database.ScalarAsync(postgres, "select position from balances.checkpoint"),
            position => position >= head, settle, $"the balances consumer to reach position {head}");

        var actual = new Dictionary<string, ExpectedBalance>();
        await using (var connection = new NpgsqlConnection(postgres))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(
                $"select account_id, owner, balance, status, version from balances.accounts where account_id not like '{SyntheticPrefix}%'", connection);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                actual[reader.GetString(0)] = new ExpectedBalance(reader.GetString(1), reader.GetDecimal(2), reader.GetString(3), reader.GetInt64(4));
            }
        }

        var statistics = await StatisticsAsync(api);
        var view = await Eventually.Until(async () =>
        {
            using var response = await api.Http.GetAsync(new Uri("/api/statistics", UriKind.Relative));
            return await ProducerApi.BodyAsync(response, 200);
        }, s => s.GetProperty("position").GetInt64() >= statistics.Position, settle, $"statistics to reach position {statistics.Position}");
        var seen = new ExpectedStatistics(
            view.GetProperty("accounts").GetInt64(), view.GetProperty("openAccounts").GetInt64(),
            view.GetProperty("deposits").GetProperty("count").GetInt64(), view.GetProperty("deposits").GetProperty("total").GetDecimal(),
            view.GetProperty("withdrawals").GetProperty("count").GetInt64(), view.GetProperty("withdrawals").GetProperty("total").GetDecimal(),
            view.GetProperty("position").GetInt64());
        return new FoldComparison(actual, expected, seen, statistics);
    }

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
