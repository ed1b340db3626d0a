using System.Text.Json;
using EventReplay.Contracts;
using EventReplay.Tests.Integration.Infrastructure;
using EventReplay.Tests.Integration.Pipeline;

namespace EventReplay.Tests.Integration.Replays;

/// <summary>A live event lost before its consumer saw it: the consumer parks the stream, asks for a redelivery, and heals.</summary>
public class GapRepairTests : StackOverEmptyLog
{
    [Test]
    public async Task A_gap_left_by_a_lost_live_message_heals_by_itself()
    {
        var warmUp = ProducerApi.NewAccountId();
        await Api.OpenedAsync(warmUp);
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(Api, TestEnvironment.Databases);

        Stack.Balances.Kill();
        var id = ProducerApi.NewAccountId();
        await Api.OpenedAsync(id);
        long last = 0;
        foreach (var amount in new[] { "10", "20", "30" })
        {
            using var deposit = await Api.DepositAsync(id, amount);
            last = (await ProducerApi.BodyAsync(deposit, 200)).GetProperty("position").GetInt64();
        }

        // Published (confirmed by the broker) before the checkpoint passes it: then they wait in the queue.
        var queue = Topology.LiveQueue("balances");
        await Eventually.Until(() => Database.ScalarAsync(TestEnvironment.EventStoreConnectionString, "select position from producer.publisher_checkpoint"),
            published => published >= last, LivePipelineTests.Settle, $"the account's events to be published to {queue}");
        var removed = await Broker.RemoveEventsAsync(queue, (streamId, version) => streamId == id && version == 2);
        Assert.That(removed, Is.EqualTo(1));

        await Stack.Balances.StartAsync();

        var account = await Eventually.Until(() => LivePipelineTests.GetAccountAsync(Api, id),
            a => a?.GetProperty("version").GetInt64() == 4, ReplayApi.Finish, $"{id} to heal to version 4");
        Assert.That(account?.GetProperty("balance").GetDecimal(), Is.EqualTo(60m));
        // The account heals when the batch applies; the replay counts it when the consumer's answer reaches it.
        var repairs = await Eventually.Until(() => RepairsOfAsync(id), r => r.Count > 0, ReplayApi.Finish, $"a repair of {id} to be listed");
        var repair = await ReplayApi.WaitForEndAsync(Api, repairs[0].GetProperty("replayId").GetString()!);
        Assert.Multiple(() =>
        {
            Assert.That(repairs, Has.Count.EqualTo(1), "one repair for the one gap");
            Assert.That(repair.GetProperty("eventsApplied").GetInt64(), Is.GreaterThanOrEqualTo(1), repair.ToString());
            Assert.That(repair.GetProperty("reason").GetString(), Does.Contain("Gap repair"));
        });
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(Api, TestEnvironment.Databases);
    }

    [Test]
    public async Task A_repair_request_the_broker_never_confirmed_is_sent_again()
    {
        var id = ProducerApi.NewAccountId();
        await Api.OpenedAsync(id);
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(Api, TestEnvironment.Databases);

        // What a request looks like when its StartReplay was never confirmed: remembered, with no replay id yet.
        await using (var connection = new Npgsql.NpgsqlConnection(TestEnvironment.ReadModelsConnectionString))
        {
            await connection.OpenAsync();
            await Database.ExecuteAsync(connection,
                $"insert into balances.repairs (stream_id, waiting_version, replay_id, requested_at) values ('{id}', 2, '', now() - interval '1 minute')");
        }

        var replayId = await Eventually.Until(async () =>
        {
            await using var connection = new Npgsql.NpgsqlConnection(TestEnvironment.ReadModelsConnectionString);
            await connection.OpenAsync();
            await using var command = new Npgsql.NpgsqlCommand($"select replay_id from balances.repairs where stream_id = '{id}'", connection);
            return (string?)await command.ExecuteScalarAsync();
        }, replay => !string.IsNullOrEmpty(replay), ReplayApi.Finish, "the request to be sent again");

        var repair = await ReplayApi.WaitForEndAsync(Api, replayId!);
        Assert.Multiple(() =>
        {
            Assert.That(replayId, Does.StartWith("repair-balances-"));
            Assert.That(repair.GetProperty("status").GetString(), Is.EqualTo("completed"), repair.ToString());
            Assert.That(repair.GetProperty("streamIds")[0].GetString(), Is.EqualTo(id));
        });
    }

    /// <summary>The gap repairs of the balances consumer for one account, newest first.</summary>
    private async Task<List<JsonElement>> RepairsOfAsync(string id)
    {
        using var list = await Api.Http.GetAsync(new Uri("/api/replays?limit=20", UriKind.Relative));
        return (await ProducerApi.BodyAsync(list, 200)).GetProperty("replays").EnumerateArray()
            .Where(r => r.GetProperty("replayId").GetString()!.StartsWith("repair-balances-", StringComparison.Ordinal)
                && r.GetProperty("streamIds")[0].GetString() == id)
            .Select(r => r.Clone())
            .ToList();
    }
}
