using System.Text.Json;
using StackExchange.Redis;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>The replay API through the load balancer, and the small histories replay tests build first.</summary>
public static class ReplayApi
{
    public static readonly TimeSpan Finish = TimeSpan.FromSeconds(90);

    /// <summary>The rebuild each consumer asks for by itself once the store has <paramref name="epoch"/> (a restore), once ended.</summary>
    public static async Task<IReadOnlyList<JsonElement>> AutomaticRebuildsAsync(ProducerApi api, string epoch)
    {
        var rebuilds = new List<JsonElement>();
        foreach (var consumer in EventReplay.Contracts.Topology.Consumers)
        {
            rebuilds.Add(await WaitForEndAsync(api, $"restore-{consumer}-{epoch.Replace("-", "", StringComparison.Ordinal)[..16]}"));
        }

        return rebuilds;
    }

    /// <summary>Starts a replay (202 expected) and returns its id.</summary>
    public static async Task<string> StartAsync(ProducerApi api, string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/replays")
        {
            Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Requested-By", "replay-tests");
        using var response = await api.Http.SendAsync(request);
        var accepted = await ProducerApi.BodyAsync(response, 202);
        var id = accepted.GetProperty("replayId").GetString()!;
        Assert.That(response.Headers.Location?.ToString(), Is.EqualTo($"/api/replays/{id}"));
        return id;
    }

    public static async Task<JsonElement> StartAndFinishAsync(ProducerApi api, string body) =>
        await WaitForEndAsync(api, await StartAsync(api, body));

    public static async Task<JsonElement?> ShowAsync(ProducerApi api, string id)
    {
        using var response = await api.Http.GetAsync(new Uri($"/api/replays/{id}", UriKind.Relative));
        return response.IsSuccessStatusCode ? await ProducerApi.BodyAsync(response, 200) : null;
    }

    public static async Task<JsonElement> WaitForEndAsync(ProducerApi api, string id, TimeSpan? timeout = null) =>
        await Eventually.Until(() => ShowAsync(api, id),
            replay => replay?.GetProperty("status").GetString() is "completed" or "failed" or "cancelled", timeout ?? Finish, $"replay {id} to end")
        ?? default;

    /// <summary>
    /// A rebuild that met a fault ends <c>completed</c> with the next generation live, or <c>failed</c> with the reason
    /// and the live copy untouched (its generation unchanged; its content is the invariants' to check).
    /// </summary>
    public static async Task AssertRebuildEndedAsync(JsonElement replay, string postgres, long generationBefore)
    {
        var generation = await Database.ScalarAsync(postgres, "select generation from balances.meta");
        Assert.Multiple(() =>
        {
            Assert.That(replay.GetProperty("status").GetString(), Is.EqualTo("completed").Or.EqualTo("failed"), replay.ToString());
            if (replay.GetProperty("status").GetString() == "completed")
            {
                Assert.That(generation, Is.EqualTo(generationBefore + 1), "the fresh copy is live");
            }
            else
            {
                Assert.That(replay.GetProperty("error").GetString(), Is.Not.Empty, "a failed rebuild says why");
                Assert.That(generation, Is.EqualTo(generationBefore), "the live copy is the one from before");
            }
        });
        // The old or the abandoned copy is dropped just after the answer: give that its moment.
        await Eventually.Until(() => Database.ScalarAsync(postgres,
                "select count(*) from pg_namespace where nspname in ('balances_rebuild', 'balances_retired')"),
            count => count == 0, TimeSpan.FromSeconds(30), "no copy left beside the live one");
    }

    public static async Task<JsonElement> WaitUntilAsync(ProducerApi api, string id, Func<JsonElement, bool> condition, string what) =>
        await Eventually.Until(() => ShowAsync(api, id), replay => replay is { } r && condition(r), Finish, what) ?? default;

    public static async Task ControlAsync(ProducerApi api, string id, string command)
    {
        using var response = await api.Http.PostAsync(new Uri($"/api/replays/{id}/{command}", UriKind.Relative), null);
        Assert.That((int)response.StatusCode, Is.EqualTo(202), $"{command} of {id}");
    }

    /// <summary>Opens accounts and makes deposits through the API; returns the account ids.</summary>
    public static async Task<List<string>> MakeHistoryAsync(ProducerApi api, int accounts, int deposits)
    {
        var ids = Enumerable.Range(0, accounts).Select(_ => ProducerApi.NewAccountId()).ToList();
        foreach (var id in ids)
        {
            await api.OpenedAsync(id);
            for (var n = 1; n <= deposits; n++)
            {
                using var deposit = await api.DepositAsync(id, $"{n}.50");
                await ProducerApi.BodyAsync(deposit, 200);
            }
        }

        return ids;
    }

    /// <summary>The Redis key of an account in the balances read model's live cache generation.</summary>
    public static async Task<string> BalanceCacheKeyAsync(string postgres, string accountId)
    {
        var generation = await Database.ScalarAsync(postgres, "select generation from balances.meta");
        return $"balances:v{generation}:account:{accountId}";
    }

    public static async Task DeleteCachedAsync(string redis, IEnumerable<string> keys)
    {
        await using var cache = await ConnectionMultiplexer.ConnectAsync(redis);
        foreach (var key in keys)
        {
            await cache.GetDatabase().KeyDeleteAsync(key);
        }
    }
}
