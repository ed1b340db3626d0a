using System.Text;
using System.Text.Json;
using EventReplay.Contracts;
using EventReplay.Hosting;
using EventReplay.Tests.Integration.Infrastructure;
using EventReplay.Tests.Integration.Pipeline;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace EventReplay.Tests.Integration.Security;

/// <summary>
/// Every service connects to RabbitMQ as its own user (eng/broker-users.sh), with permissions on what it uses only;
/// consumers take live events from the producer's user and batches and cut-overs from the replay service's alone (the
/// AMQP user_id, which the broker checks against the connection), and set anything else aside with the reason; the
/// operator user may send replay commands and nothing else.
/// </summary>
public sealed class BrokerPermissionTests : StackOverEmptyLog
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(30);

    [TestCase("er-statistics")]
    [TestCase("er-monitor")]
    public async Task A_live_event_another_user_sends_is_set_aside_and_changes_nothing(string forger)
    {
        var id = ProducerApi.NewAccountId();
        var forged = JsonSerializer.Serialize(new RecordedEvent(1, id, 1, "AccountOpened", DateTimeOffset.UtcNow,
            JsonSerializer.SerializeToElement(new { accountId = id, owner = "Mallory" })), new JsonSerializerOptions(JsonSerializerDefaults.Web));

        await Broker.SendAsync(Topology.LiveQueue("balances"), forged, @as: forger);
        var failure = (await CollectedFailures.NamingAsync(ReadModels, id, Settle)).Single();
        var genuine = ProducerApi.NewAccountId();
        await Api.OpenedAsync(genuine);
        await Eventually.Until(() => LivePipelineTests.GetAccountAsync(Api, genuine), account => account is not null, Settle, "a genuine event after it");

        Assert.Multiple(async () =>
        {
            Assert.That(failure.Reason, Does.StartWith("Not published by the producer").And.Contain($"'{forger}'"));
            Assert.That(failure.Queue, Is.EqualTo(Topology.LiveQueue("balances")));
            Assert.That(await LivePipelineTests.GetAccountAsync(Api, id), Is.Null, "the forged account does not exist");
        });
    }

    [Test]
    public async Task A_live_event_without_a_user_id_is_set_aside()
    {
        var id = ProducerApi.NewAccountId();
        var forged = JsonSerializer.Serialize(new RecordedEvent(1, id, 1, "AccountOpened", DateTimeOffset.UtcNow,
            JsonSerializer.SerializeToElement(new { accountId = id, owner = "Mallory" })), new JsonSerializerOptions(JsonSerializerDefaults.Web));

        await Broker.SendAsync(Topology.LiveQueue("statistics"), forged, @as: BrokerAccounts.Administrator);
        var failure = (await CollectedFailures.NamingAsync(ReadModels, id, Settle)).Single();

        Assert.That(failure.Reason, Does.Contain("user_id not set"));
    }

    [Test]
    public async Task A_cut_over_another_user_sends_is_set_aside_and_the_live_copy_stays()
    {
        var replayId = $"forged-{Guid.NewGuid():N}";
        var before = await GenerationAsync();

        await Broker.SendAsync(Topology.ReplayQueue("balances"), $$"""{"replayId":"{{replayId}}","target":"balances"}""",
            Topology.RebuildCutOverType, @as: "er-balances");
        var failure = (await CollectedFailures.NamingAsync(ReadModels, replayId, Settle)).Single();

        Assert.Multiple(async () =>
        {
            Assert.That(failure.Reason, Does.Contain("Not sent by the replay service").And.Contain("'er-balances'"));
            Assert.That(failure.Queue, Is.EqualTo(Topology.ReplayQueue("balances")));
            Assert.That(await GenerationAsync(), Is.EqualTo(before), "no cut-over happened");
        });
    }

    [Test]
    public async Task The_operator_user_may_send_replay_commands_and_nothing_else()
    {
        var id = $"broker-operator-{Guid.NewGuid():N}";
        await using var connection = await Broker.ConnectAsync(BrokerUsers.DefaultOperator);
        await using (var channel = await connection.CreateChannelAsync(new CreateChannelOptions(true, true)))
        {
            await channel.BasicPublishAsync(Topology.ReplayCommandsExchange, "", mandatory: true,
                new BasicProperties { Type = "StartReplay", ContentType = "application/json", UserId = BrokerUsers.DefaultOperator },
                Encoding.UTF8.GetBytes($$"""{"replayId":"{{id}}","target":"statistics","mode":"redeliver","fromPosition":999999999}"""));
        }

        var replay = await Eventually.Until(() => ReplayApi.ShowAsync(Api, id), r => r is not null, Settle, "the replay the operator user started");
        var refusals = new List<string>
        {
            await RefusalAsync(connection, channel => channel.BasicPublishAsync(Topology.EventsExchange, "", Encoding.UTF8.GetBytes("{}")).AsTask()),
            await RefusalAsync(connection, channel => channel.BasicPublishAsync("", Topology.ReplayQueue("balances"), Encoding.UTF8.GetBytes("{}")).AsTask()),
            await RefusalAsync(connection, channel => channel.BasicConsumeAsync(Topology.ReplayCommandsQueue, true, new RabbitMQ.Client.Events.AsyncEventingBasicConsumer(channel))),
            await RefusalAsync(connection, channel => channel.QueueDeclareAsync("operator-own", false, false, true)),
        };

        Assert.Multiple(() =>
        {
            Assert.That(replay!.Value.GetProperty("requestedBy").GetString(), Is.EqualTo($"amqp:{BrokerUsers.DefaultOperator}"));
            Assert.That(refusals, Is.All.StartWith("ACCESS_REFUSED"));
        });
    }

    [TestCase("er-producer", "consume", "balances.live")]
    [TestCase("er-balances", "consume", "statistics.live")]
    [TestCase("er-balances", "consume", "replay.commands")]
    [TestCase("er-balances", "publish", "events")]
    [TestCase("er-statistics", "publish", "events")]
    [TestCase("er-replay", "publish", "events")]
    [TestCase("er-replay", "consume", "balances.replay")]
    [TestCase("er-monitor", "publish", "events")]
    [TestCase("er-gateway", "publish", "events")]
    [TestCase("er-gateway", "consume", "monitor.heartbeats")]
    [TestCase("er-gateway", "publish", "")]
    [TestCase("er-operator", "declare", "replay.commands")]
    public async Task A_service_user_is_refused_what_it_does_not_use(string user, string operation, string name)
    {
        await using var connection = await Broker.ConnectAsync(user);

        var refusal = await RefusalAsync(connection, channel => operation switch
        {
            "consume" => channel.BasicConsumeAsync(name, false, new RabbitMQ.Client.Events.AsyncEventingBasicConsumer(channel)),
            "publish" => channel.BasicPublishAsync(name, name == "" ? Topology.LiveQueue("balances") : "", Encoding.UTF8.GetBytes("{}")).AsTask(),
            _ => channel.QueueDeclareAsync(name, true, false, false, Broker.SystemTopology.Arguments(Topology.ReplayDeadLetterQueue, ordered: false)),
        });

        Assert.That(refusal, Does.StartWith("ACCESS_REFUSED"));
    }

    /// <summary>What the broker said when it closed the channel for <paramref name="operation"/>, or "allowed".</summary>
    private static async Task<string> RefusalAsync(IConnection connection, Func<IChannel, Task> operation)
    {
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(true, true));
        try
        {
            await operation(channel);
            // A publish is refused asynchronously: a round trip after it shows whether the channel was closed.
            await channel.QueueDeclarePassiveAsync(Topology.ReplayCommandsQueue);
            return "allowed";
        }
        catch (Exception exception) when (exception is OperationInterruptedException or AlreadyClosedException)
        {
            var reason = exception is OperationInterruptedException interrupted ? interrupted.ShutdownReason : ((AlreadyClosedException)exception).ShutdownReason;
            return reason?.ReplyText ?? exception.Message;
        }
    }

    private static async Task<int> GenerationAsync()
    {
        await using var connection = new Npgsql.NpgsqlConnection(ReadModels);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("select generation from balances.meta where id = 1", connection);
        return Convert.ToInt32(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
