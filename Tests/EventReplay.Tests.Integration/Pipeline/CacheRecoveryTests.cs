using System.Net;
using EventReplay.Tests.Integration.Infrastructure;
using StackExchange.Redis;

namespace EventReplay.Tests.Integration.Pipeline;

/// <summary>The cache catches up with PostgreSQL after writes it refused, even when the consumer restarts in between.</summary>
public class CacheRecoveryTests
{
    [Test]
    public async Task A_cache_write_that_failed_before_a_restart_is_done_after_it()
    {
        await using var redis = new RedisInstance();
        await redis.StartAsync();
        await using var stack = await ServiceStack.StartedAsync(redis: redis.ConnectionString);
        var api = stack.Api;
        var id = ProducerApi.NewAccountId();
        await api.OpenedAsync(id);
        using (var deposit = await api.DepositAsync(id, "10")) { await ProducerApi.BodyAsync(deposit, 200); }
        await Eventually.Until(() => ReadAsync(api.Http, id), r => r is { Version: 2, Cache: "hit" }, LivePipelineTests.Settle, "version 2 in the cache");

        await using var admin = await ConnectionMultiplexer.ConnectAsync($"{redis.ConnectionString},allowAdmin=true");
        var server = admin.GetServer(admin.GetEndPoints().Single());
        // Redis keeps serving reads but refuses every write (no replica to confirm it): the cache keeps version 2.
        await server.ConfigSetAsync("min-replicas-to-write", "1");
        using (var deposit = await api.DepositAsync(id, "5")) { await ProducerApi.BodyAsync(deposit, 200); }
        await Eventually.Until(() => Database.ScalarAsync(TestEnvironment.ReadModelsConnectionString,
                "select coalesce(max(version), 0) from balances.accounts where account_id = @id", ("id", id)),
            version => version == 3, LivePipelineTests.Settle, "version 3 in PostgreSQL");
        var stale = await ReadAsync(api.Http, id);

        stack.Balances.Kill();
        await server.ConfigSetAsync("min-replicas-to-write", "0");
        await stack.Balances.StartAsync();

        var read = await Eventually.Until(() => ReadAsync(api.Http, id), r => r is { Version: 3, Cache: "hit" }, LivePipelineTests.Settle,
            "the cache to hold version 3 after the restart");
        Assert.Multiple(() =>
        {
            Assert.That(stale, Is.EqualTo(new Read(2, 10m, "hit")), "the refused write left the cache behind before the restart");
            Assert.That(read!.Balance, Is.EqualTo(15m));
        });
    }

    private sealed record Read(long Version, decimal Balance, string? Cache);

    private static async Task<Read?> ReadAsync(HttpClient client, string id)
    {
        using var response = await client.GetAsync(new Uri($"/api/accounts/{id}", UriKind.Relative));
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return null;
        }

        var body = await ProducerApi.BodyAsync(response, 200);
        return new Read(body.GetProperty("version").GetInt64(), body.GetProperty("balance").GetDecimal(),
            response.Headers.TryGetValues("X-Cache", out var cache) ? cache.Single() : null);
    }
}
