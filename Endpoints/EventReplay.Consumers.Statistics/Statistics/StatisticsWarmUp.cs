using System.Text.Json;
using EventReplay.Hosting;
using EventReplay.Messaging;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;

namespace EventReplay.Consumers.Statistics.Statistics;

/// <summary>
/// The one-time work of the first statistics reads, done at start (see <see cref="IWarmUp"/>): the first
/// <c>GET /api/statistics</c> after a start used 0.15-0.24 CPU s against 0.02-0.03 warm, seconds on a busy machine.
/// It only reads: the totals from Redis and from PostgreSQL.
/// </summary>
public sealed class StatisticsWarmUp(VersionedCache cache, StatisticsStore store, ReadModelCopies copies, IOptions<JsonOptions> json)
    : IWarmUp
{
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        await cache.GetAsync<Totals>(StatisticsEndpoints.CacheKey(copies.Live.Generation));
        var totals = await store.GetAsync(cancellationToken);
        JsonSerializer.SerializeToUtf8Bytes(new StatisticsView(totals.Accounts, totals.OpenAccounts,
            new CountAndTotal(totals.DepositCount, totals.DepositTotal), new CountAndTotal(totals.WithdrawalCount, totals.WithdrawalTotal),
            totals.Position), json.Value.SerializerOptions);
    }
}
