using EventReplay.Hosting;
using EventReplay.Messaging;
using EventReplay.Security;

namespace EventReplay.Consumers.Statistics.Statistics;

public sealed record CountAndTotal(long Count, decimal Total);

public sealed record StatisticsView(long Accounts, long OpenAccounts, CountAndTotal Deposits, CountAndTotal Withdrawals, long Position);

public static class StatisticsEndpoints
{
    /// <summary>The totals' Redis key in a cache generation (see <c>ReadModelCopies</c>).</summary>
    public static string CacheKey(int generation) => $"statistics:v{generation}:totals";

    public static IEndpointRouteBuilder MapStatistics(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/statistics", GetAsync).WithTags("Statistics")
            .WithName("getStatistics").WithSummary("Read the totals over every account")
            .WithDescription("From the statistics read model (Redis first, PostgreSQL on a miss); `position` is the last event counted.")
            .Produces<StatisticsView>()
            .ResponseExample(StatusCodes.Status200OK, new StatisticsView(1200, 1150, new CountAndTotal(5400, 812345.25m),
                new CountAndTotal(2100, 301200.00m), 9871))
            .RequireAuthorization(Policies.Read);
        return app;
    }

    /// <summary>Redis first; PostgreSQL on a miss, which also refills the cache.</summary>
    private static async Task<IResult> GetAsync(HttpResponse response, VersionedCache cache, StatisticsStore store,
        ReadModelCopies copies, ReadFreshness freshness, CancellationToken ct)
    {
        var key = CacheKey(copies.Live.Generation);
        var totals = await cache.GetAsync<Totals>(key);
        var fromCache = totals is not null;
        if (totals is not null)
        {
            response.Headers["X-Cache"] = "hit";
        }
        else
        {
            totals = await Deadline.Within(store.GetAsync(ct), response.HttpContext);
            response.Headers["X-Cache"] = "miss";
            await cache.SetAsync([(key, totals.Position, totals)]);
        }

        freshness.Describe(response, fromCache);

        return TypedResults.Ok(new StatisticsView(totals.Accounts, totals.OpenAccounts,
            new CountAndTotal(totals.DepositCount, totals.DepositTotal), new CountAndTotal(totals.WithdrawalCount, totals.WithdrawalTotal),
            totals.Position));
    }
}
