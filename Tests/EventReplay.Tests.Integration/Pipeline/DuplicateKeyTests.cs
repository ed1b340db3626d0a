using EventReplay.Contracts;
using EventReplay.Contracts.Replays;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Pipeline;

/// <summary>
/// Messages read over AMQP with a property named twice in one object (two readers could each take another of the two
/// values) are set aside with the reason and change nothing, and the queue moves on: replay commands and answers in
/// the replay service's dead-letter storage, live events, replay batches and control messages in the consumer's
/// dead-letter queue.
/// </summary>
public class DuplicateKeyTests : StackOverEmptyLog
{
    private const string Synthetic = "synthetic-";
    private const string At = "2026-11-27T07:30:01Z";
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(30);

    [TestCase("""{"replayId":"{id}","target":"statistics","mode":"redeliver","mode":"redeliver","fromPosition":999999999}""")]
    [TestCase("""{"replayId":"{id}","ReplayId":"{id}-2","target":"statistics","mode":"redeliver","fromPosition":999999999}""")]
    [TestCase("""{"replayId":"{id}","target":"statistics","mode":"redeliver","streamIds":["a"],"streamIds":["b"],"fromPosition":999999999}""")]
    public async Task A_StartReplay_with_a_property_given_twice_starts_no_replay_and_is_kept_as_a_dead_letter(string json)
    {
        var id = $"dup-{Guid.NewGuid():N}";
        var next = $"after-{Guid.NewGuid():N}";
        await Broker.SendAsync(Topology.ReplayCommandsQueue, json.Replace("{id}", id, StringComparison.Ordinal), type: "StartReplay");
        await Broker.SendAsync(Topology.ReplayCommandsQueue,
            $$"""{"replayId":"{{next}}","target":"statistics","mode":"redeliver","fromPosition":999999999}""", type: "StartReplay");

        var after = await ReplayApi.WaitForEndAsync(Api, next);
        var reason = await DeadLetterReasonAsync(id);

        Assert.Multiple(async () =>
        {
            Assert.That(after.GetProperty("status").GetString(), Is.EqualTo("completed"), "the command after it");
            Assert.That(reason, Does.Contain("Duplicate property"));
            Assert.That(await ReplayApi.ShowAsync(Api, id), Is.Null);
            Assert.That(await ReplayApi.ShowAsync(Api, id + "-2"), Is.Null);
        });
    }

    [Test]
    public async Task An_answer_with_a_property_given_twice_is_kept_as_a_dead_letter()
    {
        var id = $"dup-{Guid.NewGuid():N}";

        await Broker.SendAsync(Topology.ReplayAcksQueue,
            $$"""{"replayId":"{{id}}","sequence":1,"sequence":2,"applied":1,"skipped":0,"parked":0,"rejected":0,"lastPosition":1}""",
            type: Topology.AnswerType(typeof(ReplayBatchApplied)));

        Assert.That(await DeadLetterReasonAsync(id), Does.Contain("Duplicate property"));
    }

    // The whole event, one of its properties in another case, its data, deep inside its data, its data in another case.
    [TestCase("""{"position":1,"streamId":"{id}","version":1,"version":1,"type":"AccountOpened","timestamp":"{at}","data":{"accountId":"{id}","owner":"Syn"}}""")]
    [TestCase("""{"position":1,"streamId":"{id}","StreamId":"{id}-2","version":1,"type":"AccountOpened","timestamp":"{at}","data":{"accountId":"{id}","owner":"Syn"}}""")]
    [TestCase("""{"position":1,"streamId":"{id}","version":1,"type":"AccountOpened","timestamp":"{at}","data":{"accountId":"{id}","owner":"Syn","owner":"Other"}}""")]
    [TestCase("""{"position":1,"streamId":"{id}","version":1,"type":"AccountOpened","timestamp":"{at}","data":{"accountId":"{id}","owner":"Syn","meta":[{"by":"a","by":"b"}]}}""")]
    [TestCase("""{"position":1,"streamId":"{id}","version":1,"type":"AccountOpened","timestamp":"{at}","data":{"accountId":"{id}","owner":"Syn","Owner":"Other"}}""")]
    public async Task A_live_event_with_a_property_given_twice_is_dead_lettered_and_later_events_still_apply(string json)
    {
        var id = Synthetic + Guid.NewGuid().ToString("N");
        await Broker.SendAsync(Topology.LiveQueue("balances"), Fill(json, id));
        var marker = ProducerApi.NewAccountId();
        await Api.OpenedAsync(marker);

        await Eventually.Until(() => LivePipelineTests.GetAccountAsync(Api, marker), a => a is not null, Settle, "an event after it to apply");
        var dead = await DeadLetterAsync(id);

        Assert.Multiple(async () =>
        {
            Assert.That(dead.Reason, Does.Contain("Duplicate property"));
            Assert.That(await LivePipelineTests.GetAccountAsync(Api, id), Is.Null);
            Assert.That(await LivePipelineTests.GetAccountAsync(Api, id + "-2"), Is.Null);
        });
    }

    // The batch, one of its events (in another case), an event's data, deep inside it, and in another case.
    [TestCase("""{"replayId":"{replay}","sequence":1,"sequence":2,"mode":"redeliver","events":[{"position":1,"streamId":"{id}","version":1,"type":"AccountOpened","timestamp":"{at}","data":{"accountId":"{id}","owner":"Syn"}}]}""")]
    [TestCase("""{"replayId":"{replay}","sequence":1,"mode":"redeliver","events":[{"position":1,"streamId":"{id}","version":1,"type":"AccountOpened","Type":"AccountClosed","timestamp":"{at}","data":{"accountId":"{id}","owner":"Syn"}}]}""")]
    [TestCase("""{"replayId":"{replay}","sequence":1,"mode":"redeliver","events":[{"position":1,"streamId":"{id}","version":1,"type":"AccountOpened","timestamp":"{at}","data":{"accountId":"{id}","owner":"Syn","owner":"Other"}}]}""")]
    [TestCase("""{"replayId":"{replay}","sequence":1,"mode":"redeliver","events":[{"position":1,"streamId":"{id}","version":1,"type":"AccountOpened","timestamp":"{at}","data":{"accountId":"{id}","owner":"Syn","meta":{"a":{"by":1,"by":2}}}}]}""")]
    [TestCase("""{"replayId":"{replay}","sequence":1,"mode":"redeliver","events":[{"position":1,"streamId":"{id}","version":1,"type":"AccountOpened","timestamp":"{at}","data":{"accountId":"{id}","owner":"Syn","OWNER":"Other"}}]}""")]
    public async Task A_replay_batch_with_a_property_given_twice_is_dead_lettered_and_later_batches_still_apply(string json)
    {
        var id = Synthetic + Guid.NewGuid().ToString("N");
        var next = Synthetic + Guid.NewGuid().ToString("N");
        var replay = $"dup-{Guid.NewGuid():N}";
        await Broker.SendAsync(Topology.ReplayQueue("balances"), Fill(json, id, replay), type: Topology.ReplayBatchType);
        await Broker.SendAsync(Topology.ReplayQueue("balances"), Fill(
            """{"replayId":"{replay}","sequence":1,"mode":"redeliver","events":[{"position":1,"streamId":"{id}","version":1,"type":"AccountOpened","timestamp":"{at}","data":{"accountId":"{id}","owner":"Syn"}}]}""",
            next, replay + "-next"), type: Topology.ReplayBatchType);

        await Eventually.Until(() => LivePipelineTests.GetAccountAsync(Api, next), a => a is not null, Settle, "a batch after it to apply");
        var dead = await DeadLetterAsync(id);

        Assert.Multiple(async () =>
        {
            Assert.That(dead.Reason, Does.Contain("Duplicate property"));
            Assert.That(await LivePipelineTests.GetAccountAsync(Api, id), Is.Null);
        });
    }

    [TestCase(Topology.RebuildAbandonedType)]
    [TestCase(Topology.RebuildCutOverType)]
    public async Task A_control_message_with_a_property_given_twice_is_dead_lettered(string type)
    {
        var id = $"dup-{Guid.NewGuid():N}";

        await Broker.SendAsync(Topology.ReplayQueue("balances"), $$"""{"replayId":"{{id}}","replayId":"{{id}}-2"}""", type: type);

        Assert.That((await DeadLetterAsync(id)).Reason, Does.Contain("Duplicate property"));
    }

    private static string Fill(string json, string id, string replay = "") =>
        json.Replace("{id}", id, StringComparison.Ordinal).Replace("{at}", At, StringComparison.Ordinal)
            .Replace("{replay}", replay, StringComparison.Ordinal);

    /// <summary>The dead letter of the balances consumer whose body names <paramref name="id"/>, as the monitor collected it.</summary>
    private static async Task<(string Body, string? Reason)> DeadLetterAsync(string id)
    {
        var found = await CollectedFailures.NamingAsync(ReadModels, id, Settle);
        Assert.That(found[0].FoundIn, Is.EqualTo(Topology.DeadLetterQueue("balances")), "where it was set aside");
        return (found[0].Body, found[0].Reason);
    }

    /// <summary>Why the replay service set aside the message whose body names <paramref name="id"/>, as the monitor collected it.</summary>
    private static async Task<string> DeadLetterReasonAsync(string id)
    {
        var found = await CollectedFailures.NamingAsync(ReadModels, id, Settle);
        Assert.That(found[0].FoundIn, Is.EqualTo("replay.wolverine_dead_letters"), "where it was set aside");
        return found[0].Reason;
    }
}
