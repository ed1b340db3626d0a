using System.Text.Json;

namespace EventReplay.Tests.Integration.Infrastructure;

public sealed record ExpectedBalance(string Owner, decimal Balance, string Status, long Version);

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

    private static decimal Amount(JsonElement data) => data.GetProperty("amount").GetDecimal();
}
