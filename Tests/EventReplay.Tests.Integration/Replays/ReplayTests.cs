using System.Net;
using System.Text.Json;
using EventReplay.Contracts;
using EventReplay.Tests.Integration.Infrastructure;
using EventReplay.Tests.Integration.Pipeline;

namespace EventReplay.Tests.Integration.Replays;

/// <summary>
/// Replays through the public API and through raw AMQP, against the whole system: the replay service's saga reads
/// the store and sends batches to one consumer's replay queue; the consumer applies them with the version rule.
/// </summary>
public class ReplayTests : StackOverEmptyLog
{
    [Test]
    public async Task Redelivering_over_a_healthy_read_model_changes_nothing_and_skips_every_event()
    {
        // From the end of what earlier tests wrote (the whole test log can be large), in many small batches.
        var start = await Api.HeadAsync();
        await MakeHistoryAsync(accounts: 5, deposits: 4);
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(Api, TestEnvironment.Databases);
        var before = await BalancesAsync();

        var replay = await StartAndFinishAsync(
            $$"""{"target":"balances","mode":"redeliver","fromPosition":{{start + 1}},"batchSize":7,"reason":"healthy check"}""");

        var (events, head) = await CountEventsAsync(start + 1, long.MaxValue);
        Assert.Multiple(async () =>
        {
            Assert.That(replay.GetProperty("status").GetString(), Is.EqualTo("completed"));
            Assert.That(replay.GetProperty("toPosition").GetInt64(), Is.GreaterThanOrEqualTo(head));
            Assert.That(replay.GetProperty("eventsTotal").GetInt64(), Is.GreaterThanOrEqualTo(events).And.GreaterThanOrEqualTo(25));
            Assert.That(replay.GetProperty("eventsApplied").GetInt64(), Is.Zero);
            Assert.That(replay.GetProperty("eventsSkipped").GetInt64(), Is.EqualTo(replay.GetProperty("eventsTotal").GetInt64()));
            Assert.That(replay.GetProperty("reason").GetString(), Is.EqualTo("healthy check"));
            Assert.That(replay.GetProperty("requestedBy").GetString(), Is.EqualTo("tests"), "the token's name");
            Assert.That(replay.GetProperty("onBehalfOf").GetString(), Is.EqualTo("replay-tests"), "X-Requested-By, kept beside it");
            Assert.That(await BalancesAsync(), Is.EquivalentTo(before));
        });
    }

    [Test]
    public async Task Redelivering_the_streams_of_deleted_rows_repairs_them()
    {
        var ids = await MakeHistoryAsync(accounts: 3, deposits: 5);
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(Api, TestEnvironment.Databases);
        var damaged = ids.Take(2).ToArray();
        await using (var connection = new Npgsql.NpgsqlConnection(TestEnvironment.ReadModelsConnectionString))
        {
            await connection.OpenAsync();
            await Database.ExecuteAsync(connection,
                $"delete from balances.accounts where account_id in ({string.Join(", ", damaged.Select(id => $"'{id}'"))})");
        }

        var keys = new List<string>();
        foreach (var id in damaged)
        {
            keys.Add(await ReplayApi.BalanceCacheKeyAsync(TestEnvironment.ReadModelsConnectionString, id));
        }

        await ReplayApi.DeleteCachedAsync(TestEnvironment.RedisConnectionString, keys);

        var replay = await StartAndFinishAsync(
            $$"""{"target":"balances","mode":"redeliver","streamIds":{{JsonSerializer.Serialize(damaged)}}}""");

        Assert.Multiple(() =>
        {
            Assert.That(replay.GetProperty("eventsTotal").GetInt64(), Is.EqualTo(2 * 6), "each damaged stream has 6 events");
            Assert.That(replay.GetProperty("eventsApplied").GetInt64(), Is.EqualTo(2 * 6));
        });
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(Api, TestEnvironment.Databases);
    }

    [Test]
    public async Task Filters_select_exactly_the_matching_events()
    {
        var ids = await MakeHistoryAsync(accounts: 2, deposits: 3);
        var all = await EventsAsync();
        var first = all.First(e => e.StreamId == ids[0]);
        var cases = new (string Body, Func<(long Position, string StreamId, string Type, DateTimeOffset Timestamp), bool> Selects)[]
        {
            ($$"""{"streamIds":["{{ids[1]}}"]}""", e => e.StreamId == ids[1]),
            ("""{"eventTypes":["AccountOpened"]}""", e => e.Type == "AccountOpened"),
            ($$"""{"fromPosition":{{first.Position}},"toPosition":{{first.Position + 2}}}""", e => e.Position >= first.Position && e.Position <= first.Position + 2),
            ($$"""{"fromTime":"{{first.Timestamp:O}}","toTime":"{{first.Timestamp.AddMilliseconds(1):O}}","eventTypes":["AccountOpened"]}""",
                e => e.Timestamp >= first.Timestamp && e.Timestamp <= first.Timestamp.AddMilliseconds(1) && e.Type == "AccountOpened"),
        };
        foreach (var (filter, selects) in cases)
        {
            var body = filter.Insert(1, "\"target\":\"balances\",\"mode\":\"redeliver\",");
            using var response = await Api.PostJsonAsync("/api/replays/dry-run", body);
            var plan = await ProducerApi.BodyAsync(response, 200);
            Assert.That(plan.GetProperty("eventsTotal").GetInt64(), Is.EqualTo(all.Count(e => e.Position <= plan.GetProperty("toPosition").GetInt64() && selects(e))), filter);
        }
    }

    [Test]
    public async Task A_dry_run_answers_the_plan_and_records_nothing()
    {
        await MakeHistoryAsync(accounts: 1, deposits: 1);
        var id = $"dry-{Guid.NewGuid():N}";
        using var response = await Api.PostJsonAsync("/api/replays/dry-run", $$"""{"replayId":"{{id}}","target":"statistics","mode":"redeliver","batchSize":2}""");
        var plan = await ProducerApi.BodyAsync(response, 200);
        var total = plan.GetProperty("eventsTotal").GetInt64();
        Assert.Multiple(async () =>
        {
            Assert.That(total, Is.GreaterThanOrEqualTo(2));
            Assert.That(plan.GetProperty("batches").GetInt64(), Is.EqualTo((total + 1) / 2));
            Assert.That(plan.GetProperty("fromPosition").GetInt64(), Is.EqualTo(1));
            using var show = await Api.Http.GetAsync(new Uri($"/api/replays/{id}", UriKind.Relative));
            Assert.That(show.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        });
    }

    [TestCase("""{"target":"nobody","mode":"redeliver"}""", "target")]
    [TestCase("""{"target":"balances","mode":"sideways"}""", "mode")]
    [TestCase("""{"target":"balances","mode":"redeliver","fromPosition":9,"toPosition":3}""", "fromPosition")]
    [TestCase("""{"target":"balances","mode":"redeliver","batchSize":0}""", "batchSize")]
    [TestCase("""{"target":"balances","mode":"redeliver","batchSize":10001}""", "batchSize")]
    [TestCase("""{"target":"balances","mode":"redeliver","replayId":"no spaces"}""", "replayId")]
    // A name given twice (in any case, anywhere in the body): the client and the service could each read another value.
    [TestCase("""{"target":"statistics","mode":"redeliver","mode":"redeliver","fromPosition":999999999}""", "mode")]
    [TestCase("""{"target":"statistics","Target":"statistics","mode":"redeliver","fromPosition":999999999}""", "Target")]
    [TestCase("""{"target":"statistics","mode":"redeliver","streamIds":["a"],"streamIds":["b"],"fromPosition":999999999}""", "streamIds")]
    [TestCase("""{"target":"statistics","mode":"redeliver","fromPosition":999999999,"meta":{"by":"a","by":"b"}}""", "meta.by")]
    public async Task An_invalid_request_is_refused_with_the_reason_and_starts_nothing(string body, string field)
    {
        var before = await ListCountAsync();
        using var response = await Api.PostJsonAsync("/api/replays", body);
        var problem = await ProducerApi.BodyAsync(response, 400);
        Assert.Multiple(async () =>
        {
            Assert.That(problem.GetProperty("errors").TryGetProperty(field, out _), Is.True, problem.ToString());
            Assert.That(await ListCountAsync(), Is.EqualTo(before));
        });
    }

    [Test]
    public async Task The_same_replay_id_twice_starts_one_replay()
    {
        await MakeHistoryAsync(accounts: 1, deposits: 1);
        var id = $"once-{Guid.NewGuid():N}";
        var body = $$"""{"replayId":"{{id}}","target":"statistics","mode":"redeliver"}""";
        using (var first = await Api.PostJsonAsync("/api/replays", body)) { await ProducerApi.BodyAsync(first, 202); }
        using (var again = await Api.PostJsonAsync("/api/replays", body))
        {
            Assert.That(again.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
            Assert.That(again.Headers.Location?.ToString(), Is.EqualTo($"/api/replays/{id}"));
        }

        using var list = await Api.Http.GetAsync(new Uri("/api/replays?limit=1000", UriKind.Relative));
        var replays = (await ProducerApi.BodyAsync(list, 200)).GetProperty("replays").EnumerateArray();
        Assert.That(replays.Count(r => r.GetProperty("replayId").GetString() == id), Is.EqualTo(1));
    }

    [Test]
    public async Task A_raw_AMQP_StartReplay_starts_a_replay()
    {
        var start = await Api.HeadAsync();
        await MakeHistoryAsync(accounts: 1, deposits: 2);
        var id = $"amqp-{Guid.NewGuid():N}";
        await Broker.SendAsync(Topology.ReplayCommandsQueue,
            $$"""{"replayId":"{{id}}","target":"balances","mode":"redeliver","fromPosition":{{start + 1}}}""", type: "StartReplay");

        var replay = await WaitForEndAsync(id);
        Assert.Multiple(() =>
        {
            Assert.That(replay.GetProperty("status").GetString(), Is.EqualTo("completed"));
            // The live consumer may not have applied these yet: each event is applied once, by whichever comes first.
            Assert.That(replay.GetProperty("eventsSkipped").GetInt64() + replay.GetProperty("eventsApplied").GetInt64(),
                Is.EqualTo(replay.GetProperty("eventsTotal").GetInt64()).And.EqualTo(3));
        });
    }

    [Test]
    public async Task Replays_are_listed_newest_first()
    {
        var start = await Api.HeadAsync();
        await MakeHistoryAsync(accounts: 1, deposits: 1);
        var first = await StartAndFinishAsync($$"""{"target":"statistics","mode":"redeliver","fromPosition":{{start + 1}}}""");
        var second = await StartAndFinishAsync($$"""{"target":"statistics","mode":"redeliver","fromPosition":{{start + 1}}}""");

        using var response = await Api.Http.GetAsync(new Uri("/api/replays?limit=2", UriKind.Relative));
        var ids = (await ProducerApi.BodyAsync(response, 200)).GetProperty("replays").EnumerateArray()
            .Select(r => r.GetProperty("replayId").GetString()).ToList();
        Assert.That(ids, Is.EqualTo(new[] { second.GetProperty("replayId").GetString(), first.GetProperty("replayId").GetString() }));
    }

    private Task<JsonElement> StartAndFinishAsync(string body) => ReplayApi.StartAndFinishAsync(Api, body);

    private Task<JsonElement> WaitForEndAsync(string id) => ReplayApi.WaitForEndAsync(Api, id);

    private Task<List<string>> MakeHistoryAsync(int accounts, int deposits) => ReplayApi.MakeHistoryAsync(Api, accounts, deposits);

    private async Task<int> ListCountAsync()
    {
        using var response = await Api.Http.GetAsync(new Uri("/api/replays?limit=1000", UriKind.Relative));
        return (await ProducerApi.BodyAsync(response, 200)).GetProperty("replays").GetArrayLength();
    }

    private async Task<(long Count, long Head)> CountEventsAsync(long from, long to)
    {
        var events = await EventsAsync();
        var selected = events.Where(e => e.Position >= from && e.Position <= to).ToList();
        return (selected.Count, events.Count == 0 ? 0 : events[^1].Position);
    }

    private async Task<List<(long Position, string StreamId, string Type, DateTimeOffset Timestamp)>> EventsAsync() =>
        [.. (await Api.AllEventsAsync()).Select(e => (e.GetProperty("position").GetInt64(), e.GetProperty("streamId").GetString()!,
            e.GetProperty("type").GetString()!, e.GetProperty("timestamp").GetDateTimeOffset()))];

    private static async Task<Dictionary<string, (decimal, long)>> BalancesAsync()
    {
        var rows = new Dictionary<string, (decimal, long)>();
        await using var connection = new Npgsql.NpgsqlConnection(TestEnvironment.ReadModelsConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("select account_id, balance, version from balances.accounts", connection);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows[reader.GetString(0)] = (reader.GetDecimal(1), reader.GetInt64(2));
        }

        return rows;
    }
}
