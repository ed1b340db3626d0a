using System.Globalization;
using EventReplay.Contracts.Accounts;
using EventReplay.Hosting;
using EventReplay.Messaging;
using EventReplay.Security;

namespace EventReplay.Consumers.Balances.Balances;

public sealed record AccountView(string AccountId, string Owner, decimal Balance, string Status, long Version, DateTimeOffset UpdatedAt);

public static class BalanceEndpoints
{
    public static IEndpointRouteBuilder MapBalances(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/accounts/{accountId}", GetAsync).WithTags("Accounts")
            .WithName("getAccount").WithSummary("Read an account's balance")
            .WithDescription("From the balances read model (Redis first, PostgreSQL on a miss): `X-Cache` says which, the ETag is the "
                             + "account's version, and the freshness headers say how far behind the event log the read model is.")
            .Produces<AccountView>().ProducesValidationProblem().ProducesProblem(StatusCodes.Status404NotFound)
            .ResponseExample(StatusCodes.Status200OK, new AccountView("acc-1001", "Ada Lovelace", 15.50m, "open", 3,
                new DateTimeOffset(2026, 12, 1, 9, 30, 0, TimeSpan.Zero)))
            .RequireAuthorization(Policies.Read);
        return app;
    }

    /// <summary>Redis first; PostgreSQL on a miss, which also refills the cache.</summary>
    private static async Task<IResult> GetAsync(string accountId, HttpResponse response, BalanceCache cache, BalanceStore store,
        ReadFreshness freshness, CancellationToken ct)
    {
        if (AccountId.Check(accountId) is { } error)
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["accountId"] = [error] },
                title: "The request is invalid");
        }

        var cached = await cache.GetAsync(accountId);
        if (cached is not null)
        {
            response.Headers["X-Cache"] = "hit";
            freshness.Describe(response, fromCache: true);
            return Answer(cached, response);
        }

        var row = await Deadline.Within(store.FindAsync(accountId, ct), response.HttpContext);
        if (row is null)
        {
            return TypedResults.Problem($"Account {accountId} does not exist.", statusCode: StatusCodes.Status404NotFound,
                title: "Not found");
        }

        response.Headers["X-Cache"] = "miss";
        freshness.Describe(response, fromCache: false);
        await cache.SetAsync([row]);
        return Answer(row, response);
    }

    private static IResult Answer(AccountBalance row, HttpResponse response)
    {
        response.Headers.ETag = $"\"{row.Version.ToString(CultureInfo.InvariantCulture)}\"";
        return TypedResults.Ok(new AccountView(row.AccountId, row.Owner, row.Balance, row.Status, row.Version, row.UpdatedAt));
    }
}
