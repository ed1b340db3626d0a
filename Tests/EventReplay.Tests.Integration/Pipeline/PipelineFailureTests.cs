using System.Net;
using EventReplay.Tests.Integration.Infrastructure;
using static EventReplay.Tests.Integration.Pipeline.LivePipelineTests;

namespace EventReplay.Tests.Integration.Pipeline;

/// <summary>Parts of the live pipeline killed or stopped under load; each test gets a stack (and servers) of its own.</summary>
public class PipelineFailureTests
{
    [Test]
    public async Task Killing_the_consumer_during_a_burst_of_2000_commands_loses_nothing()
    {
        await PipelineState.ResetAsync(TestEnvironment.Databases, TestEnvironment.RedisConnectionString);
        await using var stack = await ServiceStack.StartedAsync();
        var api = stack.Api;
        var ids = Enumerable.Range(0, 40).Select(_ => ProducerApi.NewAccountId()).ToList();
        foreach (var id in ids)
        {
            await api.OpenedAsync(id);
        }

        var sent = 0;
        await Task.WhenAll(Enumerable.Range(0, 8).Select(async worker =>
        {
            for (var n = 0; n < 250; n++)
            {
                if (Interlocked.Increment(ref sent) == 600)
                {
                    stack.Balances.Kill();
                }

                using var response = await api.DepositAsync(ids[(worker * 250 + n) % ids.Count], "1.01");
                Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            }
        }));
        await stack.Balances.StartAsync();

        await AssertReadModelEqualsFoldAsync(api, TestEnvironment.Databases);
    }

    [Test]
    public async Task Killing_the_producer_during_a_burst_still_publishes_every_acknowledged_event()
    {
        await PipelineState.ResetAsync(TestEnvironment.Databases, TestEnvironment.RedisConnectionString);
        await using var stack = await ServiceStack.StartedAsync();
        var api = stack.Api;
        var id = ProducerApi.NewAccountId();
        await api.OpenedAsync(id);
        var acknowledged = new List<long>();
        var sent = 0;
        await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
        {
            for (var n = 0; n < 100; n++)
            {
                if (Interlocked.Increment(ref sent) == 300)
                {
                    stack.Producer.Kill();
                }

                try
                {
                    using var response = await api.DepositAsync(id, "1");
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        var position = (await ProducerApi.BodyAsync(response, 200)).GetProperty("position").GetInt64();
                        lock (acknowledged)
                        {
                            acknowledged.Add(position);
                        }
                    }
                }
                catch (HttpRequestException)
                {
                    // Cut off with the producer: not acknowledged.
                }
            }
        }));
        await stack.Producer.StartAsync();

        var events = await api.AllEventsAsync();
        Assert.That(events.Select(e => e.GetProperty("position").GetInt64()), Is.SupersetOf(acknowledged));
        await AssertReadModelEqualsFoldAsync(api, TestEnvironment.Databases);
        var balance = await GetAccountAsync(api, id);
        Assert.That(balance?.GetProperty("version").GetInt64(), Is.GreaterThanOrEqualTo(1 + acknowledged.Count));
    }

    [Test]
    public async Task Restarting_RabbitMQ_during_a_burst_loses_nothing()
    {
        await PipelineState.ResetAsync(TestEnvironment.Databases, TestEnvironment.RedisConnectionString);
        await using var broker = new RabbitMqInstance();
        await broker.StartAsync();
        await using var stack = await ServiceStack.StartedAsync(rabbitmq: broker.ConnectionString);
        var api = stack.Api;
        var ids = Enumerable.Range(0, 20).Select(_ => ProducerApi.NewAccountId()).ToList();
        foreach (var id in ids)
        {
            await api.OpenedAsync(id);
        }

        var burst = Task.WhenAll(Enumerable.Range(0, 4).Select(async worker =>
        {
            for (var n = 0; n < 300; n++)
            {
                using var response = await api.DepositAsync(ids[(worker * 300 + n) % ids.Count], "2");
                Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), "commands do not need the broker");
            }
        }));
        await Eventually.Until(() => Database.ScalarAsync(TestEnvironment.ReadModelsConnectionString, "select position from balances.checkpoint"),
            position => position > 0, Settle, "the consumer to apply events before the broker goes down");
        await broker.StopAsync();
        await broker.StartAsync();
        await burst;

        await AssertReadModelEqualsFoldAsync(api, TestEnvironment.Databases);
    }

    [Test]
    public async Task With_Redis_down_reads_answer_and_events_apply_and_the_cache_converges_when_it_returns()
    {
        await using var redis = new RedisInstance();
        await redis.StartAsync();
        await using var stack = await ServiceStack.StartedAsync(redis: redis.ConnectionString);
        var (api, client) = (stack.Api, stack.Api.Http);
        var id = ProducerApi.NewAccountId();
        await api.OpenedAsync(id);
        using (var deposit = await api.DepositAsync(id, "10")) { await ProducerApi.BodyAsync(deposit, 200); }
        await Eventually.Until(() => ReadAsync(client, id), r => r.Version == 2 && r.Cache == "hit", Settle, "the cached version 2");

        redis.Kill();
        using (var deposit = await api.DepositAsync(id, "5")) { await ProducerApi.BodyAsync(deposit, 200); }
        var whileDown = await Eventually.Until(() => ReadAsync(client, id), r => r.Version == 3, Settle, "version 3 to be read without Redis");

        await TestContext.Out.WriteLineAsync($"read with Redis down took {whileDown.Elapsed.TotalMilliseconds:0} ms");
        await redis.StartAsync();
        var converged = await Eventually.Until(() => ReadAsync(client, id), r => r.Version == 3 && r.Cache == "hit", Settle,
            "the cache to hold version 3 again");

        Assert.Multiple(() =>
        {
            Assert.That(whileDown.Cache, Is.EqualTo("miss"));
            Assert.That(whileDown.Elapsed, Is.LessThan(TimeSpan.FromSeconds(2)), "a read with Redis down must not stall");
            Assert.That(converged.Balance, Is.EqualTo(15m));
        });
    }

    [Test]
    public async Task With_PostgreSQL_down_cached_reads_answer_as_stale_and_commands_get_503_then_all_converges()
    {
        await using var postgres = new PostgresInstance();
        await postgres.StartAsync();
        await using var redis = new RedisInstance();
        await redis.StartAsync();
        await Broker.PurgeAsync();
        // One server holds both databases: the outage takes the event store and the read models down together.
        await using var stack = await ServiceStack.StartedAsync(postgres.ConnectionString, postgres.ConnectionString, redis.ConnectionString);
        var (api, client) = (stack.Api, stack.Api.Http);
        var id = ProducerApi.NewAccountId();
        await api.OpenedAsync(id);
        await Eventually.Until(() => ReadAsync(client, id), r => r.Version == 1 && r.Cache == "hit", Settle, "the account to be cached");

        await postgres.StopAsync();
        var stale = await Eventually.Until(() => ReadAsync(client, id), r => r.Stale, Settle, "a cached read marked stale");
        using var refused = await api.DepositAsync(id, "1");

        await postgres.StartAsync();
        await Eventually.Until(async () =>
        {
            using var response = await api.DepositAsync(id, "1", key: "after-outage");
            return response.StatusCode;
        }, status => status == HttpStatusCode.OK, Settle, "a deposit to succeed again");
        var fresh = await Eventually.Until(() => ReadAsync(client, id), r => r.Version == 2 && !r.Stale, Settle, "the deposit to be read");

        Assert.Multiple(() =>
        {
            Assert.That(stale.Status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(stale.Version, Is.EqualTo(1));
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
            Assert.That(fresh.Balance, Is.EqualTo(1m));
        });
        await AssertReadModelEqualsFoldAsync(api, SystemDatabases.OneServer(postgres.ConnectionString));
    }

    internal sealed record Read(HttpStatusCode Status, long Version, decimal Balance, string? Cache, bool Stale, TimeSpan Elapsed);

    internal static async Task<Read> ReadAsync(HttpClient client, string id)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var response = await client.GetAsync(new Uri($"/api/accounts/{id}", UriKind.Relative));
        var elapsed = clock.Elapsed;
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return new Read(response.StatusCode, 0, 0, null, false, elapsed);
        }

        var body = await ProducerApi.BodyAsync(response, 200);
        return new Read(response.StatusCode, body.GetProperty("version").GetInt64(), body.GetProperty("balance").GetDecimal(),
            response.Headers.TryGetValues("X-Cache", out var cache) ? cache.Single() : null,
            response.Headers.Contains("X-Data-Stale"), elapsed);
    }
}
