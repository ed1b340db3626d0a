using System.Net;
using System.Text.Json;
using EventReplay.Contracts;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Pipeline;

/// <summary>
/// Commands through the load balancer, events through RabbitMQ, balances read back through the load balancer.
/// The fixture republishes the whole test log into emptied queues and an emptied read model, so every test can
/// compare the read model with a fold of the log.
/// </summary>
public class LivePipelineTests
{
    private const string Synthetic = LogFold.SyntheticPrefix;
    internal static readonly TimeSpan Settle = InvariantChecks.Settle;
    private ServiceStack _stack = null!;

    private ProducerApi Api => _stack.Api;

    [OneTimeSetUp]
    public async Task StartFromAnEmptyReadModel()
    {
        await PipelineState.ResetAsync(TestEnvironment.Databases, TestEnvironment.RedisConnectionString);
        _stack = await ServiceStack.StartedAsync();
    }

    [OneTimeTearDown]
    public async Task StopStack() => await _stack.DisposeAsync();

    [Test]
    public async Task A_command_shows_in_the_balance_within_seconds()
    {
        var id = ProducerApi.NewAccountId();
        await Api.OpenedAsync(id);
        using (var deposit = await Api.DepositAsync(id, "125.50")) { await ProducerApi.BodyAsync(deposit, 200); }
        using (var withdrawal = await Api.WithdrawAsync(id, "20")) { await ProducerApi.BodyAsync(withdrawal, 200); }

        var account = await Eventually.Until(() => GetAccountAsync(id), a => a?.GetProperty("version").GetInt64() == 3, Settle,
            $"{id} to reach version 3 in the balances read model");

        Assert.Multiple(() =>
        {
            Assert.That(account!.Value.GetProperty("balance").GetDecimal(), Is.EqualTo(105.50m));
            Assert.That(account.Value.GetProperty("owner").GetString(), Is.EqualTo("Ada"));
            Assert.That(account.Value.GetProperty("status").GetString(), Is.EqualTo("open"));
        });
    }

    [Test]
    public async Task After_a_burst_of_commands_the_read_model_equals_the_fold_of_the_log()
    {
        var ids = Enumerable.Range(0, 20).Select(_ => ProducerApi.NewAccountId()).ToList();
        foreach (var id in ids)
        {
            await Api.OpenedAsync(id);
        }

        await Task.WhenAll(ids.Select(async (id, i) =>
        {
            for (var n = 0; n < 25; n++)
            {
                using var response = n % 5 == 4 ? await Api.WithdrawAsync(id, "3") : await Api.DepositAsync(id, $"{i + 1}.25");
                Assert.That((int)response.StatusCode, Is.AnyOf(200, 409));
            }
        }));

        await AssertReadModelEqualsFoldAsync(Api, TestEnvironment.Databases);
    }

    [Test]
    public async Task A_poison_message_is_dead_lettered_with_its_reason_and_later_events_still_apply()
    {
        await Broker.SendAsync(Topology.LiveQueue("balances"), "{not json");
        await Broker.SendAsync(Topology.LiveQueue("balances"), "{}", type: "SomethingElse");
        var id = ProducerApi.NewAccountId();
        await Api.OpenedAsync(id);

        await Eventually.Until(() => GetAccountAsync(id), a => a is not null, Settle, $"{id} to be applied after the poison");
        // Set aside on balances.dead, from where the monitor collects them.
        var notJson = await CollectedFailures.NamingAsync(TestEnvironment.ReadModelsConnectionString, "{not json", Settle);
        var unknown = await CollectedFailures.NamingAsync(TestEnvironment.ReadModelsConnectionString, "{}", Settle, d => d.Body == "{}");

        Assert.Multiple(() =>
        {
            Assert.That(notJson.Single().Reason, Does.StartWith("Unreadable JSON"));
            Assert.That(notJson.Single().FoundIn, Is.EqualTo(Topology.DeadLetterQueue("balances")));
            Assert.That(notJson.Single().Queue, Is.EqualTo(Topology.LiveQueue("balances")), "the queue a retry sends it to");
            Assert.That(unknown.Single().Reason, Does.Contain("SomethingElse"));
        });
    }

    [Test]
    public async Task Duplicated_and_reordered_deliveries_leave_the_read_model_correct()
    {
        var id = Synthetic + Guid.NewGuid().ToString("N");
        var queue = Topology.LiveQueue("balances");
        var opened = Recorded(id, 1, "AccountOpened", new { accountId = id, owner = "Syn" });
        var deposit = Recorded(id, 2, "FundsDeposited", new { accountId = id, amount = 10.5m });
        var withdrawal = Recorded(id, 3, "FundsWithdrawn", new { accountId = id, amount = 0.5m });

        // Version 3 before 2 (a gap, parked), then 2 (fills it), then duplicates of everything.
        await Broker.SendAsync(queue, opened);
        await Broker.SendAsync(queue, withdrawal);
        await Broker.SendAsync(queue, deposit);
        await Broker.SendAsync(queue, opened);
        await Broker.SendAsync(queue, deposit);
        await Broker.SendAsync(queue, withdrawal);
        var marker = ProducerApi.NewAccountId();
        await Api.OpenedAsync(marker);
        await Eventually.Until(() => GetAccountAsync(marker), a => a is not null, Settle, "the messages sent before the marker to be applied");

        var account = await GetAccountAsync(id);
        Assert.Multiple(() =>
        {
            Assert.That(account?.GetProperty("version").GetInt64(), Is.EqualTo(3));
            Assert.That(account?.GetProperty("balance").GetDecimal(), Is.EqualTo(10m));
        });
    }

    [Test]
    public async Task Events_of_a_store_epoch_that_is_gone_are_dropped_and_not_set_aside()
    {
        var id = Synthetic + Guid.NewGuid().ToString("N");
        var queue = Topology.LiveQueue("balances");
        var gone = new Dictionary<string, object?> { [EventReplay.EventLog.StoreEpoch.Header] = $"gone-{Guid.NewGuid():N}" };
        // A real command first, so the read model holds the store's epoch (a copy that has none takes the first it sees).
        var marker = ProducerApi.NewAccountId();
        await Api.OpenedAsync(marker);
        await Eventually.Until(() => GetAccountAsync(marker), a => a is not null, Settle, "a command of the store's epoch to be applied");
        // Published before a restore took the store back: an account and a deposit the store no longer has.
        await Broker.SendAsync(queue, Recorded(id, 1, "AccountOpened", new { accountId = id, owner = "Gone" }), headers: gone);
        await Broker.SendAsync(queue, Recorded(id, 2, "FundsDeposited", new { accountId = id, amount = 10m }), headers: gone);
        // Of the current epoch: the same account opened again, after them on the same queue.
        await Broker.SendAsync(queue, Recorded(id, 1, "AccountOpened", new { accountId = id, owner = "Current" }));
        await Eventually.Until(() => GetAccountAsync(id), a => a is not null, Settle, "the current epoch's event, sent after the others");

        var account = (await GetAccountAsync(id))!.Value;
        // A poison message after them: once the monitor has collected it, it would have collected them before it.
        var poison = "{not json " + id;
        await Broker.SendAsync(queue, poison);
        await CollectedFailures.NamingAsync(TestEnvironment.ReadModelsConnectionString, poison, Settle);
        var setAside = (await CollectedFailures.ReadAsync(TestEnvironment.ReadModelsConnectionString, id)).Where(f => f.Body != poison).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(account.GetProperty("owner").GetString(), Is.EqualTo("Current"), "the gone epoch's opening was not applied");
            Assert.That(account.GetProperty("version").GetInt64(), Is.EqualTo(1), "nor its deposit");
            Assert.That(account.GetProperty("balance").GetDecimal(), Is.Zero);
            Assert.That(setAside, Is.Empty, "dropped, not a failed message");
        });
    }

    internal static async Task AssertReadModelEqualsFoldAsync(ProducerApi api, SystemDatabases databases)
    {
        FoldComparison comparison;
        try
        {
            comparison = await LogFold.CompareAsync(api, databases.ReadModels, Settle);
        }
        catch (TimeoutException exception)
        {
            throw new TimeoutException($"{exception.Message}. Pipeline: {await PipelineState.DescribeAsync(databases)}", exception);
        }

        Assert.That(comparison.Balances, Is.EquivalentTo(comparison.ExpectedBalances));
        Assert.That(comparison.Statistics, Is.EqualTo(comparison.ExpectedStatistics));
    }

    private Task<JsonElement?> GetAccountAsync(string id) => GetAccountAsync(Api, id);

    internal static async Task<JsonElement?> GetAccountAsync(ProducerApi api, string id)
    {
        using var response = await api.Http.GetAsync(new Uri($"/api/accounts/{id}", UriKind.Relative));
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        return await ProducerApi.BodyAsync(response, 200);
    }

    private static string Recorded(string id, long version, string type, object data) =>
        // Low positions: they never move a consumer's checkpoint past the real log.
        JsonSerializer.Serialize(new RecordedEvent(
            version, id, version, type, DateTimeOffset.UtcNow,
            JsonSerializer.SerializeToElement(data)), new JsonSerializerOptions(JsonSerializerDefaults.Web));
}
