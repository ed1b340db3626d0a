using System.Net;
using System.Text.Json;
using EventReplay.Contracts;
using EventReplay.Tests.Integration.Infrastructure;
using EventReplay.Tests.Integration.Pipeline;

namespace EventReplay.Tests.Integration.Outages;

/// <summary>
/// The event store put back to an earlier moment under a running system (its files replaced by a cold copy, as a
/// restore by other means than eng/restore.sh does, so the store keeps its epoch): the read models, the publisher's
/// checkpoint and the cache are ahead of it. The system notices by itself and every read model is rebuilt to the fold
/// of the store as it now is.
/// </summary>
public class EventStoreGoesBackTests
{
    private static readonly TimeSpan Settle = LivePipelineTests.Settle;

    [Test]
    public async Task A_store_put_back_to_an_earlier_moment_gets_a_new_epoch_and_every_read_model_is_rebuilt_to_its_fold()
    {
        await using var eventStore = new PostgresInstance();
        await eventStore.StartAsync();
        var databases = TestEnvironment.Databases with { EventStore = eventStore.ConnectionString };
        await PipelineState.ResetWithEmptyLogAsync(databases, TestEnvironment.RedisConnectionString);
        await Broker.PurgeAsync();
        await using var stack = await ServiceStack.StartedAsync(eventStore: eventStore.ConnectionString);
        var api = stack.Api;
        var kept = ProducerApi.NewAccountId();
        var lost = ProducerApi.NewAccountId();
        await api.OpenedAsync(kept);
        await DepositAsync(api, kept, "5");
        var epochBefore = await EpochAsync(eventStore.ConnectionString);
        await FaultRecovery.CatchUpAsync(databases, Settle);

        // The moment the store goes back to.
        await eventStore.StopAsync();
        await eventStore.SnapshotAsync();
        await eventStore.StartAsync();
        await Eventually.Until(async () =>
        {
            using var response = await api.DepositAsync(kept, "7", key: "after-the-snapshot");
            return response.StatusCode;
        }, status => status == HttpStatusCode.OK, Settle, "a deposit after the snapshot");
        await api.OpenedAsync(lost);
        await DepositAsync(api, lost, "11");
        await FaultRecovery.CatchUpAsync(databases, Settle);
        var headAhead = await api.HeadAsync();
        await Eventually.Until(() => ReadAsync(api, kept), read => read.Version == 3, Settle, "the deposit after the snapshot to be read");

        await eventStore.StopAsync();
        await eventStore.RollBackAsync();
        await eventStore.StartAsync();

        var rebuilt = new Dictionary<string, JsonElement>();
        foreach (var consumer in Topology.Consumers)
        {
            var replay = await Eventually.Until(() => RebuildAsync(api, consumer), found => found is not null, Settle,
                $"an automatic rebuild of {consumer}");
            rebuilt[consumer] = await ReplayApi.WaitForEndAsync(api, replay!.Value.GetProperty("replayId").GetString()!);
        }

        var epochAfter = await EpochAsync(eventStore.ConnectionString);
        var keptRead = await Eventually.Until(() => ReadAsync(api, kept), read => read.Version == 2, Settle, "the account as the store has it");
        var lostRead = await ReadAsync(api, lost);
        await TestContext.Out.WriteLineAsync($"log head {headAhead} before, {await api.HeadAsync()} after going back; epoch {epochBefore} -> "
            + $"{epochAfter}; " + string.Join("; ", rebuilt.Select(r => $"{r.Key}: {r.Value.GetProperty("replayId")} "
                + $"{r.Value.GetProperty("status")}, {r.Value.GetProperty("eventsApplied")} applied, reason \"{r.Value.GetProperty("reason")}\"")));
        Assert.Multiple(() =>
        {
            Assert.That(epochAfter, Is.Not.EqualTo(epochBefore), "the store's epoch");
            Assert.That(rebuilt.Values.Select(r => r.GetProperty("status").GetString()), Is.All.EqualTo("completed"), "the rebuilds");
            Assert.That(rebuilt.Values.Select(r => r.GetProperty("reason").GetString()), Is.All.Contains("went back in time"));
            Assert.That(keptRead.Balance, Is.EqualTo(5m), "the balance without the deposit the store no longer has");
            Assert.That(lostRead.Status, Is.EqualTo(HttpStatusCode.NotFound), "an account the store no longer has");
        });
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(api, databases);
        await Invariants.AssertCacheNotBehindAsync(databases.ReadModels, TestEnvironment.RedisConnectionString);

        // New events reuse the positions the old read models had applied: they apply.
        await DepositAsync(api, kept, "3");
        var after = await Eventually.Until(() => ReadAsync(api, kept), read => read.Version == 3, Settle, "a deposit after the rebuild");
        Assert.That(after.Balance, Is.EqualTo(8m));
        await FaultRecovery.CatchUpAsync(databases, Settle);
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(api, databases);
    }

    [Test]
    public async Task An_automatic_rebuild_refused_while_an_operators_rebuild_has_not_ended_is_asked_for_again_once_it_has()
    {
        await using var eventStore = new PostgresInstance();
        await eventStore.StartAsync();
        var databases = TestEnvironment.Databases with { EventStore = eventStore.ConnectionString };
        await PipelineState.ResetWithEmptyLogAsync(databases, TestEnvironment.RedisConnectionString);
        await Broker.PurgeAsync();
        await using var stack = await ServiceStack.StartedAsync(eventStore: eventStore.ConnectionString,
            environment: new Dictionary<string, string> { ["StoreEpoch__AskAgainSeconds"] = "2" });
        var api = stack.Api;
        var id = ProducerApi.NewAccountId();
        await api.OpenedAsync(id);
        await DepositAsync(api, id, "5");
        await FaultRecovery.CatchUpAsync(databases, Settle);
        await eventStore.StopAsync();
        await eventStore.SnapshotAsync();
        await eventStore.StartAsync();
        await Eventually.Until(async () =>
        {
            using var response = await api.DepositAsync(id, "7", key: "after-the-snapshot");
            return response.StatusCode;
        }, status => status == HttpStatusCode.OK, Settle, "a deposit after the snapshot");
        await Eventually.Until(() => ReadAsync(api, id), read => read.Version == 3, Settle, "the deposit after the snapshot to be read");

        // An operator's rebuild of the balances, paused: a rebuild of that read model that has not ended.
        await ReplayApi.StartAsync(api, """{"replayId":"operators-rebuild","target":"balances","mode":"rebuild","maxEventsPerSecond":1}""");
        await ReplayApi.ControlAsync(api, "operators-rebuild", "pause");
        await ReplayApi.WaitUntilAsync(api, "operators-rebuild", r => r.GetProperty("status").GetString() == "paused", "the operator's rebuild paused");

        await eventStore.StopAsync();
        await eventStore.RollBackAsync();
        await eventStore.StartAsync();
        var refused = await Eventually.Until(() => RebuildAsync(api, "balances"), found => found?.GetProperty("status").GetString() == "failed",
            Settle, "the automatic rebuild of balances to be refused");
        var refusedId = refused!.Value.GetProperty("replayId").GetString();
        // Meanwhile the consumer says why it is degraded (its read model is behind a store that went back).
        using var health = await stack.Balances.CreateClient().GetAsync(new Uri("/health", UriKind.Relative));
        var report = System.Text.Json.JsonDocument.Parse(await health.Content.ReadAsStringAsync()).RootElement;
        await ReplayApi.ControlAsync(api, "operators-rebuild", "cancel");
        var again = await Eventually.Until(() => RebuildAsync(api, "balances"), found => found?.GetProperty("replayId").GetString() != refusedId,
            Settle, "the automatic rebuild of balances to be asked for again");
        var ended = await ReplayApi.WaitForEndAsync(api, again!.Value.GetProperty("replayId").GetString()!);
        var read = await Eventually.Until(() => ReadAsync(api, id), r => r.Version == 2, Settle, "the account as the store has it");
        await TestContext.Out.WriteLineAsync($"{refusedId} {refused.Value.GetProperty("status")}: \"{refused.Value.GetProperty("error")}\"; "
            + $"then {ended.GetProperty("replayId")} {ended.GetProperty("status")}");
        Assert.Multiple(() =>
        {
            Assert.That(refused.Value.GetProperty("error").GetString(), Does.Contain("operators-rebuild"), "why the first was refused");
            Assert.That(report.GetProperty("status").GetString(), Is.EqualTo("Degraded"), report.ToString());
            Assert.That(report.GetProperty("checks").EnumerateArray().Select(c => c.GetProperty("description").GetString() ?? ""),
                Has.Some.Contains("went back in time"), "the reason in /health");
            Assert.That(ended.GetProperty("replayId").GetString(), Is.EqualTo(refusedId + "-2"));
            Assert.That(ended.GetProperty("status").GetString(), Is.EqualTo("completed"));
            Assert.That(read.Balance, Is.EqualTo(5m), "the balance without the deposit the store no longer has");
        });
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(api, databases);
    }

    private static async Task DepositAsync(ProducerApi api, string id, string amount)
    {
        using var response = await api.DepositAsync(id, amount);
        await ProducerApi.BodyAsync(response, 200);
    }

    private static async Task<string?> EpochAsync(string eventStore)
    {
        await using var connection = new Npgsql.NpgsqlConnection(eventStore);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("select epoch from producer.store_epoch", connection);
        return await command.ExecuteScalarAsync() as string;
    }

    private static async Task<JsonElement?> RebuildAsync(ProducerApi api, string consumer)
    {
        using var response = await api.Http.GetAsync(new Uri($"/api/replays?limit=100", UriKind.Relative));
        var body = await ProducerApi.BodyAsync(response, 200);
        foreach (var replay in body.GetProperty("replays").EnumerateArray())
        {
            if (replay.GetProperty("replayId").GetString()!.StartsWith($"restore-{consumer}-", StringComparison.Ordinal))
            {
                return replay.Clone();
            }
        }

        return null;
    }

    private sealed record Read(HttpStatusCode Status, long Version, decimal Balance);

    private static async Task<Read> ReadAsync(ProducerApi api, string id)
    {
        using var response = await api.Http.GetAsync(new Uri($"/api/accounts/{id}", UriKind.Relative));
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return new Read(response.StatusCode, 0, 0);
        }

        var body = await ProducerApi.BodyAsync(response, 200);
        return new Read(response.StatusCode, body.GetProperty("version").GetInt64(), body.GetProperty("balance").GetDecimal());
    }
}
