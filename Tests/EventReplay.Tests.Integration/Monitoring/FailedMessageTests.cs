using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using EventReplay.Contracts;
using EventReplay.Contracts.Monitoring;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Monitoring;

/// <summary>
/// Failed messages through the public path, against the whole system: a poison message on a live queue collected by the
/// monitor (and acknowledged on the dead-letter queue), retried (two retries at once send it once), edited and retried
/// until the read model shows the edit, archived and unarchived, bulk-retried as a job, parked events collected and
/// resolved once their gap is filled, and archived messages purged after their retention.
/// </summary>
[NonParallelizable]
public class FailedMessageTests
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan Retention = TimeSpan.FromSeconds(15);

    private ServiceStack _stack = null!;

    private HttpClient Http => _stack.Api.Http;

    private static string ReadModels => TestEnvironment.ReadModelsConnectionString;

    [OneTimeSetUp]
    public async Task StartTheSystem()
    {
        await PipelineState.ResetWithEmptyLogAsync(TestEnvironment.Databases, TestEnvironment.RedisConnectionString);
        _stack = await ServiceStack.StartedAsync(services: new Dictionary<string, IReadOnlyDictionary<string, string>>
        {
            ["EventReplay.Monitor"] = new Dictionary<string, string>
            {
                ["Monitoring__FailedMessages__ParkedAfter"] = "00:00:03",
                ["Monitoring__FailedMessages__ArchiveRetention"] = Retention.ToString(),
                ["Monitoring__FailedMessages__PurgeInterval"] = "00:00:01",
            },
        });
    }

    [OneTimeTearDown]
    public async Task StopTheSystem() => await _stack.DisposeAsync();

    [Test]
    public async Task A_poison_message_is_collected_within_10_s_shown_in_full_retried_archived_and_unarchived()
    {
        var marker = $"poison-{Guid.NewGuid():N}";
        var sent = Stopwatch.StartNew();
        await Broker.SendAsync(Topology.LiveQueue("balances"), "{not json " + marker, headers: new Dictionary<string, object?> { ["x-test"] = marker });

        var listed = await Eventually.Until(() => ListAsync($"?q={marker}"), items => items.Count == 1, TimeSpan.FromSeconds(10),
            "the poison message under failed messages");
        var collectedAfter = sent.Elapsed;
        var item = listed[0];
        var id = item.GetProperty("id").GetString()!;
        await Eventually.Until(() => Broker.CountAsync(Topology.DeadLetterQueue("balances")), count => count == 0, Settle,
            "balances.dead to be empty once the monitor committed what it took");
        var detail = await DetailAsync(id);
        var groups = await GetAsync("/api/failed-messages/groups");
        await TestContext.Out.WriteLineAsync($"collected {collectedAfter.TotalSeconds:0.0} s after it was sent: {item}");
        Assert.Multiple(() =>
        {
            Assert.That(item.GetProperty("status").GetString(), Is.EqualTo("unresolved"));
            Assert.That(item.GetProperty("queue").GetString(), Is.EqualTo("balances.live"));
            Assert.That(item.GetProperty("endpoint").GetString(), Is.EqualTo("balances"));
            Assert.That(item.GetProperty("reason").GetString(), Does.StartWith("Unreadable JSON"));
            Assert.That(item.GetProperty("attempts").GetInt32(), Is.EqualTo(1));
            Assert.That(detail.GetProperty("body").GetString(), Is.EqualTo("{not json " + marker));
            Assert.That(detail.GetProperty("bodyEncoding").GetString(), Is.EqualTo("utf-8"));
            Assert.That(detail.GetProperty("foundIn").GetString(), Is.EqualTo("balances.dead"));
            Assert.That(detail.GetProperty("headers").GetProperty("x-test").GetString(), Is.EqualTo(marker), "the message's own header");
            Assert.That(Actions(detail), Is.EqualTo(new[] { "failed" }));
            Assert.That(groups.GetProperty("groups").EnumerateArray().Where(g => g.GetProperty("groupId").GetString() == item.GetProperty("groupId").GetString())
                .Select(g => g.GetProperty("unresolved").GetInt64()).Single(), Is.GreaterThanOrEqualTo(1));
        });

        // Retried: sent again, set aside again, back as the same failed message with one more attempt.
        using (var retry = await PostAsync($"/api/failed-messages/{id}/retry"))
        {
            Assert.That(retry.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), await retry.Content.ReadAsStringAsync());
        }

        var again = await Eventually.Until(() => DetailAsync(id), d => d.GetProperty("status").GetString() == "unresolved"
            && d.GetProperty("attempts").GetInt32() == 2, Settle, "the retried poison message to come back unresolved");
        Assert.That(Actions(again), Is.EqualTo(new[] { "failed", "retry sent", "failed again" }));
        Assert.That(await ListAsync($"?q={marker}"), Has.Count.EqualTo(1), "still one failed message");

        // Archived, unarchived, and the refusals around them.
        await ExpectAsync(await PostAsync($"/api/failed-messages/{id}/archive"), 200);
        Assert.That((await ListAsync($"?q={marker}&status=archived")).Select(i => i.GetProperty("id").GetString()), Is.EqualTo(new[] { id }));
        Assert.That(await ListAsync($"?q={marker}"), Is.Empty, "the default list shows unresolved and retrying messages");
        await ExpectAsync(await PostAsync($"/api/failed-messages/{id}/retry"), 409);
        await ExpectAsync(await PostAsync($"/api/failed-messages/{id}/unarchive"), 200);
        var twice = await ExpectAsync(await PostAsync($"/api/failed-messages/{id}/unarchive"), 200);
        Assert.That(twice.GetProperty("status").GetString(), Is.EqualTo("unresolved"), "unarchiving is idempotent");
        var groupId = item.GetProperty("groupId").GetString()!;
        var archived = await ExpectAsync(await PostAsync($"/api/failed-messages/groups/{groupId}/archive"), 200);
        Assert.That(archived.GetProperty("changed").GetInt32(), Is.GreaterThanOrEqualTo(1));
        Assert.That(await ListAsync($"?q={marker}&status=archived&groupId={groupId}"), Has.Count.EqualTo(1));
        await ExpectAsync(await PostAsync($"/api/failed-messages/groups/{groupId}/unarchive"), 200);
        Assert.That((await DetailAsync(id)).GetProperty("status").GetString(), Is.EqualTo("unresolved"));
        await ExpectAsync(await PostAsync($"/api/failed-messages/{Guid.NewGuid()}/retry"), 404);
    }

    [Test]
    public async Task A_fixable_message_retried_twice_at_once_is_sent_once_and_edited_and_retried_it_applies_and_is_resolved()
    {
        var account = ProducerApi.NewAccountId();
        await _stack.Api.OpenedAsync(account);
        var position = (await _stack.Api.StreamAsync(account))![0].GetProperty("position").GetInt64();
        await Eventually.Until(() => BalanceAsync(account), b => b?.Version == 1, Settle, "the account to be read");
        // A deposit whose amount is not a number: the consumer can never apply it and sets it aside.
        var broken = Deposit(account, position, "\"seven\"");
        await Broker.SendAsync(Topology.LiveQueue("balances"), broken);
        var id = (await Eventually.Until(() => ListAsync($"?q={account}"), items => items.Count == 1, Settle, "the broken deposit collected"))[0]
            .GetProperty("id").GetString()!;

        // Two retries at once while the consumer cannot apply anything: one is sent, the other refused.
        HttpStatusCode[] statuses;
        await using (await ApplyLockHold.TakeAsync(ReadModels, "balances"))
        {
            var retries = await Task.WhenAll(PostAsync($"/api/failed-messages/{id}/retry"), PostAsync($"/api/failed-messages/{id}/retry"));
            statuses = [.. retries.Select(r => r.StatusCode).Order()];
            foreach (var retry in retries)
            {
                retry.Dispose();
            }

            Assert.That((await DetailAsync(id)).GetProperty("status").GetString(), Is.EqualTo("retrying"));
            await ExpectAsync(await PostAsync($"/api/failed-messages/{id}/archive"), 409);
        }

        Assert.That(statuses, Is.EqualTo(new[] { HttpStatusCode.Accepted, HttpStatusCode.Conflict }), "two retries at once");
        var back = await Eventually.Until(() => DetailAsync(id), d => d.GetProperty("status").GetString() == "unresolved", Settle,
            "the retried deposit to be set aside again");
        Assert.That(back.GetProperty("attempts").GetInt32(), Is.EqualTo(2), "one retry was sent");
        Assert.That(back.GetProperty("history").EnumerateArray().Count(h => h.GetProperty("action").GetString() == "retry sent"), Is.EqualTo(1));

        // A malformed edit changes nothing; a good one applies.
        await ExpectAsync(await PostJsonAsync($"/api/failed-messages/{id}/edit-and-retry", """{"body":"{not json"}"""), 400);
        await ExpectAsync(await PostJsonAsync($"/api/failed-messages/{id}/edit-and-retry", """{"body":7}"""), 400);
        Assert.That((await DetailAsync(id)).GetProperty("edits").GetArrayLength(), Is.Zero);
        var edit = JsonSerializer.Serialize(new { body = Deposit(account, position, "7"), headers = new Dictionary<string, string> { ["x-edited"] = "yes" } });
        await ExpectAsync(await PostJsonAsync($"/api/failed-messages/{id}/edit-and-retry", edit, actor: "ops@example.test"), 202);

        var applied = await Eventually.Until(() => BalanceAsync(account), b => b?.Version == 2, Settle, "the edited deposit to apply");
        var resolved = await Eventually.Until(() => DetailAsync(id), d => d.GetProperty("status").GetString() == "resolved", Settle,
            "the edited message to be resolved");
        var edits = resolved.GetProperty("edits").EnumerateArray().ToList();
        Assert.Multiple(() =>
        {
            Assert.That(applied!.Balance, Is.EqualTo(7m), "the read model shows the edit");
            Assert.That(resolved.GetProperty("body").GetString(), Is.EqualTo(broken), "the original is kept");
            Assert.That(edits, Has.Count.EqualTo(1));
            Assert.That(edits[0].GetProperty("editedBy").GetString(), Is.EqualTo("ops@example.test"));
            Assert.That(edits[0].GetProperty("body").GetString(), Does.Contain("\"amount\":7"));
            Assert.That(edits[0].GetProperty("headers").GetProperty("x-edited").GetString(), Is.EqualTo("yes"));
            Assert.That(resolved.GetProperty("attempts").GetInt32(), Is.EqualTo(3));
            Assert.That(Actions(resolved)[^1], Is.EqualTo("resolved"));
        });
        await ExpectAsync(await PostAsync($"/api/failed-messages/{id}/retry"), 409);
        await ExpectAsync(await PostAsync($"/api/failed-messages/{id}/archive"), 409);
    }

    [Test]
    public async Task A_group_of_500_is_retried_as_a_background_job_with_progress_to_its_end()
    {
        const int count = 500;
        var type = $"BulkTest{Guid.NewGuid():N}";
        await Broker.SendManyAsync(Topology.LiveQueue("statistics"), Enumerable.Range(1, count).Select(i => $"{{\"n\":{i}}}"), type);
        var first = await Eventually.Until(() => ListAsync($"?messageType={type}&limit=500"), items => items.Count == count, Settle,
            $"the {count} messages collected");
        var groupId = first[0].GetProperty("groupId").GetString()!;
        Assert.That(first.Select(i => i.GetProperty("groupId").GetString()).Distinct(), Is.EqualTo(new[] { groupId }), "one group");

        var timer = Stopwatch.StartNew();
        using var request = await PostJsonAsync("/api/failed-messages/retry", JsonSerializer.Serialize(new { groupId }));
        var answeredAfter = timer.Elapsed;
        var job = await ExpectAsync(request, 202);
        Assert.That(request.Headers.Location?.ToString(), Does.StartWith("/api/failed-messages/retry-jobs/"));
        var progress = new List<int>();
        var done = await Eventually.Until(async () =>
        {
            var state = await GetAsync(request.Headers.Location!.ToString());
            progress.Add(state.GetProperty("sent").GetInt32());
            return state;
        }, state => state.GetProperty("status").GetString() == "done", Settle, "the bulk retry to finish");
        var sentAfter = timer.Elapsed;
        var back = await Eventually.Until(() => ListAsync($"?messageType={type}&limit=500"),
            items => items.Count == count && items.All(i => i.GetProperty("attempts").GetInt32() == 2 && i.GetProperty("status").GetString() == "unresolved"),
            Settle, "every retried message back, set aside again");
        await TestContext.Out.WriteLineAsync($"bulk retry of {count}: answered in {answeredAfter.TotalMilliseconds:0} ms, all sent after "
            + $"{sentAfter.TotalSeconds:0.0} s ({count / sentAfter.TotalSeconds:0} messages/s), progress seen {string.Join(" → ", progress.Distinct())}");
        Assert.Multiple(() =>
        {
            Assert.That(job.GetProperty("total").GetInt32(), Is.EqualTo(count));
            Assert.That(done.GetProperty("sent").GetInt32(), Is.EqualTo(count));
            Assert.That(done.GetProperty("skipped").GetInt32(), Is.Zero);
            Assert.That(back, Has.Count.EqualTo(count));
        });
    }

    [Test]
    public async Task The_list_filters_pages_newest_first_and_a_retry_by_ids_runs_as_a_job()
    {
        var type = $"FilterTest{Guid.NewGuid():N}";
        foreach (var (queue, n) in new[] { ("balances", 1), ("statistics", 2), ("balances", 3), ("statistics", 4) })
        {
            // One at a time, so each is set aside (and stamped) after the one before.
            await Broker.SendAsync(Topology.LiveQueue(queue), $"{{\"n\":{n}}}", type);
            await Eventually.Until(() => ListAsync($"?messageType={type}"), items => items.Count == n, Settle, $"message {n} collected");
        }

        var all = await ListAsync($"?messageType={type}");
        var times = all.Select(i => i.GetProperty("failedAt").GetDateTimeOffset()).ToList();
        var statistics = await ListAsync($"?messageType={type}&queue=statistics.live");
        var byText = await ListAsync($"?q={type}&status=unresolved");
        var resolved = await ListAsync($"?messageType={type}&status=resolved");
        var otherType = await ListAsync($"?messageType={type}x");
        var newest = all[0].GetProperty("failedAt").GetString()!;
        var since = await ListAsync($"?messageType={type}&from={Uri.EscapeDataString(newest)}");
        var before = await ListAsync($"?messageType={type}&to={Uri.EscapeDataString(newest)}");
        var pages = new List<string>();
        string? after = null;
        do
        {
            var page = await GetAsync($"/api/failed-messages?messageType={type}&limit=1" + (after is null ? "" : $"&after={Uri.EscapeDataString(after)}"));
            pages.AddRange(page.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetString()!));
            after = page.GetProperty("next").GetString();
        }
        while (after is not null && pages.Count < 10);

        Assert.Multiple(() =>
        {
            Assert.That(all, Has.Count.EqualTo(4));
            Assert.That(times, Is.Ordered.Descending, "newest first");
            Assert.That(statistics.Select(i => i.GetProperty("queue").GetString()), Is.EqualTo(new[] { "statistics.live", "statistics.live" }));
            Assert.That(byText, Has.Count.EqualTo(4), "q finds the message type");
            Assert.That(resolved, Is.Empty);
            Assert.That(otherType, Is.Empty);
            Assert.That(since.Concat(before).Select(Id), Is.EquivalentTo(all.Select(Id)), "from and to split the list at a time");
            Assert.That(since.Select(Id), Does.Contain(Id(all[0])));
            Assert.That(pages, Is.EqualTo(all.Select(Id).ToList()), "pages of one, in the list's order, to the end");
        });

        // A retry by ids: a job like a group's; the two balances messages fail again (attempts 2), the others are untouched.
        var ids = all.Where(i => i.GetProperty("queue").GetString() == "balances.live").Select(Id).ToList();
        using var request = await PostJsonAsync("/api/failed-messages/retry", JsonSerializer.Serialize(new { ids }));
        var job = await ExpectAsync(request, 202);
        var done = await Eventually.Until(() => GetAsync(request.Headers.Location!.ToString()), state => state.GetProperty("status").GetString() == "done",
            Settle, "the retry by ids to finish");
        var back = await Eventually.Until(() => ListAsync($"?messageType={type}"),
            items => items.Count(i => ids.Contains(Id(i))) == 2
                     && items.Where(i => ids.Contains(Id(i))).All(i => i.GetProperty("attempts").GetInt32() == 2 && i.GetProperty("status").GetString() == "unresolved"),
            Settle, "both retried messages set aside again");
        Assert.Multiple(() =>
        {
            Assert.That(job.GetProperty("total").GetInt32(), Is.EqualTo(2));
            Assert.That(done.GetProperty("sent").GetInt32(), Is.EqualTo(2));
            Assert.That(back.Where(i => !ids.Contains(Id(i))).Select(i => i.GetProperty("attempts").GetInt32()), Is.EqualTo(new[] { 1, 1 }));
        });

        static string Id(JsonElement item) => item.GetProperty("id").GetString()!;
    }

    [Test]
    public async Task Every_refusal_is_a_problem_and_changes_nothing(
        [Values(
            "GET /api/failed-messages?status=bogus 400", "GET /api/failed-messages?status=unresolved&status=archived 400",
            "GET /api/failed-messages?limit=0 400", "GET /api/failed-messages?limit=501 400", "GET /api/failed-messages?limit=x 400",
            "GET /api/failed-messages?from=yesterday 400", "GET /api/failed-messages?to=2026-13-01 400", "GET /api/failed-messages?after=garbage 400",
            "GET /api/failed-messages/{unknown} 404", "GET /api/failed-messages/not-an-id 404",
            "POST /api/failed-messages/{unknown}/retry 404", "POST /api/failed-messages/{unknown}/archive 404", "POST /api/failed-messages/{unknown}/unarchive 404",
            "POST /api/failed-messages/groups/no-such-group/archive 404", "POST /api/failed-messages/groups/no-such-group/unarchive 404",
            "GET /api/failed-messages/retry-jobs/{unknown} 404", "GET /api/failed-messages/retry-jobs/not-an-id 404",
            "GET /api/monitoring/endpoints/no-such-endpoint/metrics 404", "GET /api/monitoring/endpoints/balances/metrics?period=0m 400",
            "GET /api/monitoring/endpoints/balances/metrics?period=25h 400", "GET /api/monitoring/endpoints/balances/metrics?period=soon 400",
            "GET /api/monitoring/endpoints/balances/metrics?period=1h&period=2h 400",
            "POST /api/failed-messages/retry 404 {\"groupId\":\"no-such-group\"}",
            "POST /api/failed-messages/{unknown}/edit-and-retry 404 {\"body\":\"{}\"}")]
        string request)
    {
        var jobsBefore = await JobCountAsync();
        var parts = request.Replace("{unknown}", Guid.NewGuid().ToString(), StringComparison.Ordinal).Split(' ', 4);
        using var message = new HttpRequestMessage(new HttpMethod(parts[0]), new Uri(parts[1], UriKind.Relative))
        {
            Content = parts.Length == 4 ? new StringContent(parts[3], Encoding.UTF8, "application/json") : null,
        };
        await ExpectAsync(await Http.SendAsync(message), int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture));
        Assert.That(await JobCountAsync(), Is.EqualTo(jobsBefore), "no retry job made");
    }

    [Test]
    public async Task A_malformed_bulk_retry_is_refused_and_makes_no_job(
        [Values("", "{", "[]", "{}", "{\"ids\":[],\"groupId\":null}", "{\"ids\":[\"x\"]}", "{\"ids\":\"x\"}", "{\"groupId\":5}",
            "{\"ids\":[\"00000000-0000-0000-0000-000000000001\"],\"groupId\":\"g\"}", "{\"groupId\":\"\"}")]
        string body)
    {
        var jobsBefore = await JobCountAsync();
        await ExpectAsync(await PostJsonAsync("/api/failed-messages/retry", body), 400);
        Assert.That(await JobCountAsync(), Is.EqualTo(jobsBefore), "no retry job made");
    }

    [Test]
    public async Task An_endpoints_series_covers_the_period_asked_for()
    {
        var series = await Eventually.Until(() => GetAsync("/api/monitoring/endpoints/balances/metrics?period=15m"),
            s => s.GetProperty("points").GetArrayLength() > 0, Settle, "a point of the balances' series");
        var fallback = await GetAsync("/api/monitoring/endpoints/balances/metrics");
        Assert.Multiple(() =>
        {
            Assert.That(series.GetProperty("period").GetString(), Is.EqualTo("15m"));
            Assert.That(series.GetProperty("to").GetDateTimeOffset() - series.GetProperty("from").GetDateTimeOffset(), Is.EqualTo(TimeSpan.FromMinutes(15)));
            Assert.That(fallback.GetProperty("period").GetString(), Is.EqualTo("15m"), "the default period");
        });
    }

    private static async Task<long> JobCountAsync()
    {
        await using var connection = new Npgsql.NpgsqlConnection(ReadModels);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("select count(*) from monitor.retry_jobs", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    [Test]
    public async Task An_event_parked_too_long_is_a_failed_message_resolved_once_its_gap_is_filled()
    {
        // Positions of events the log has, in order, for the synthetic deposits (a consumer never sees one past the log's head).
        var account = ProducerApi.NewAccountId();
        var positions = new List<long>();
        foreach (var opened in new[] { account, ProducerApi.NewAccountId(), ProducerApi.NewAccountId() })
        {
            await _stack.Api.OpenedAsync(opened);
            positions.Add((await _stack.Api.StreamAsync(opened))![0].GetProperty("position").GetInt64());
        }

        await Eventually.Until(() => BalanceAsync(account), b => b?.Version == 1, Settle, "the account to be read");
        // Version 3 without version 2: parked, and after 3 s (this stack's setting) a failed message.
        await Broker.SendAsync(Topology.LiveQueue("balances"), Deposit(account, positions[2], "3", version: 3));
        var parked = (await Eventually.Until(() => ListAsync($"?q={account}"), items => items.Count == 1, Settle, "the parked event collected"))[0];
        Assert.Multiple(() =>
        {
            Assert.That(parked.GetProperty("source").GetString(), Is.EqualTo("parked"));
            Assert.That(parked.GetProperty("version").GetInt64(), Is.EqualTo(3));
            Assert.That(parked.GetProperty("reason").GetString(), Does.StartWith("Parked since"));
        });

        await Broker.SendAsync(Topology.LiveQueue("balances"), Deposit(account, positions[1], "2", version: 2));
        var balance = await Eventually.Until(() => BalanceAsync(account), b => b?.Version == 3, Settle, "both deposits to apply");
        var resolved = await Eventually.Until(() => DetailAsync(parked.GetProperty("id").GetString()!),
            d => d.GetProperty("status").GetString() == "resolved", Settle, "the parked event's failed message to be resolved");
        Assert.That(balance!.Balance, Is.EqualTo(5m));
        Assert.That(resolved.GetProperty("history").EnumerateArray().Last().GetProperty("detail").GetString(), Does.Contain("no longer parked"));
    }

    [Test]
    public async Task A_command_the_replay_service_set_aside_is_collected_as_it_came_in_retried_and_resolved_once_edited()
    {
        var id = $"dup-{Guid.NewGuid():N}";
        // A property given twice: the replay service's framework cannot read it and keeps it as a dead letter.
        var unreadable = $$"""{"replayId":"{{id}}","target":"statistics","mode":"redeliver","mode":"redeliver","fromPosition":999999999}""";
        await Broker.SendAsync(Topology.ReplayCommandsQueue, unreadable, type: "StartReplay",
            headers: new Dictionary<string, object?> { ["x-test"] = id });
        await CollectedFailures.NamingAsync(ReadModels, id, Settle);
        var item = (await ListAsync($"?q={id}")).Single();
        var messageId = item.GetProperty("id").GetString()!;
        var detail = await DetailAsync(messageId);
        Assert.Multiple(() =>
        {
            Assert.That(item.GetProperty("source").GetString(), Is.EqualTo("replay-service"));
            Assert.That(item.GetProperty("messageType").GetString(), Is.EqualTo("StartReplay"));
            Assert.That(item.GetProperty("reason").GetString(), Does.Contain("Duplicate property"));
            Assert.That(detail.GetProperty("body").GetString(), Is.EqualTo(unreadable), "the command as it came in, not the framework's envelope");
            Assert.That(detail.GetProperty("headers").GetProperty("x-test").GetString(), Is.EqualTo(id), "its own headers");
        });

        // Sent again as it is: the replay service cannot read it again.
        await ExpectAsync(await PostAsync($"/api/failed-messages/{messageId}/retry"), 202);
        var again = await Eventually.Until(() => DetailAsync(messageId), d => d.GetProperty("status").GetString() == "unresolved"
            && d.GetProperty("attempts").GetInt32() == 2, Settle, "the retried command to be set aside again");
        Assert.That(Actions(again), Does.Contain("failed again"));

        // Edited into a command it can read: handled, so resolved, and the replay exists.
        var fixedBody = $$"""{"replayId":"{{id}}","target":"statistics","mode":"redeliver","fromPosition":999999999}""";
        await ExpectAsync(await PostJsonAsync($"/api/failed-messages/{messageId}/edit-and-retry", JsonSerializer.Serialize(new { body = fixedBody })), 202);
        var resolved = await Eventually.Until(() => DetailAsync(messageId), d => d.GetProperty("status").GetString() == "resolved", Settle,
            "the edited command to be handled by the replay service");
        using var replay = await Http.GetAsync(new Uri($"/api/replays/{id}", UriKind.Relative));
        Assert.Multiple(() =>
        {
            Assert.That(replay.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the replay the edited command started");
            Assert.That(resolved.GetProperty("history").EnumerateArray().Last().GetProperty("detail").GetString(),
                Is.EqualTo("handled by the replay service"));
        });
    }

    [Test]
    public async Task A_command_the_broker_set_aside_at_its_delivery_limit_is_retried_to_the_queue_it_died_on_and_resolved_once_handled()
    {
        var id = $"limit-{Guid.NewGuid():N}";
        var command = $$"""{"replayId":"{{id}}","target":"statistics","mode":"redeliver","fromPosition":999999999}""";
        // What RabbitMQ puts on replay.dead when a command on replay.commands was delivered up to the queue's limit.
        await Broker.SendAsync(Topology.ReplayDeadLetterQueue, command, type: "StartReplay", headers: new Dictionary<string, object?>
        {
            [FailedMessageHeaders.FirstDeathQueue] = Topology.ReplayCommandsQueue,
            [FailedMessageHeaders.FirstDeathReason] = "delivery_limit",
            ["x-first-death-exchange"] = "",
        });
        var item = (await Eventually.Until(() => ListAsync($"?q={id}"), items => items.Count == 1, Settle, "the command collected")).Single();
        var messageId = item.GetProperty("id").GetString()!;
        Assert.Multiple(() =>
        {
            Assert.That(item.GetProperty("queue").GetString(), Is.EqualTo(Topology.ReplayCommandsQueue), "the queue it died on takes the retry");
            Assert.That(item.GetProperty("reason").GetString(), Does.Contain("delivery_limit"));
        });

        await ExpectAsync(await PostAsync($"/api/failed-messages/{messageId}/retry"), 202);
        var resolved = await Eventually.Until(() => DetailAsync(messageId), d => d.GetProperty("status").GetString() == "resolved", Settle,
            "the retried command to be handled by the replay service");
        using var replay = await Http.GetAsync(new Uri($"/api/replays/{id}", UriKind.Relative));
        Assert.Multiple(() =>
        {
            Assert.That(replay.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the replay the retried command started");
            Assert.That(resolved.GetProperty("history").EnumerateArray().Last().GetProperty("detail").GetString(),
                Is.EqualTo("handled by the replay service"));
        });
    }

    [Test]
    public async Task An_archived_message_is_purged_after_the_retention()
    {
        var marker = $"purge-{Guid.NewGuid():N}";
        await Broker.SendAsync(Topology.LiveQueue("statistics"), "{not json " + marker);
        var id = (await Eventually.Until(() => ListAsync($"?q={marker}"), items => items.Count == 1, Settle, "the message collected"))[0]
            .GetProperty("id").GetString()!;
        await ExpectAsync(await PostAsync($"/api/failed-messages/{id}/archive"), 200);
        var archived = Stopwatch.StartNew();
        await Eventually.Until(async () => (await Http.GetAsync(new Uri($"/api/failed-messages/{id}", UriKind.Relative))).StatusCode,
            status => status == HttpStatusCode.NotFound, Retention + Settle, "the archived message to be purged");
        await TestContext.Out.WriteLineAsync($"purged {archived.Elapsed.TotalSeconds:0.0} s after it was archived (retention {Retention.TotalSeconds} s)");
        Assert.That(archived.Elapsed, Is.GreaterThanOrEqualTo(Retention - TimeSpan.FromSeconds(1)), "not before its retention");
    }

    private static string Deposit(string account, long position, string amount, int version = 2) =>
        $$$"""{"position":{{{position}}},"streamId":"{{{account}}}","version":{{{version}}},"type":"FundsDeposited","timestamp":"2026-12-01T00:00:00Z","data":{"accountId":"{{{account}}}","amount":{{{amount}}}}}""";

    private static string[] Actions(JsonElement detail) =>
        [.. detail.GetProperty("history").EnumerateArray().Select(h => h.GetProperty("action").GetString()!)];

    private sealed record AccountRead(long Version, decimal Balance);

    private async Task<AccountRead?> BalanceAsync(string account)
    {
        using var response = await Http.GetAsync(new Uri($"/api/accounts/{account}", UriKind.Relative));
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        var body = await ProducerApi.BodyAsync(response, 200);
        return new AccountRead(body.GetProperty("version").GetInt64(), body.GetProperty("balance").GetDecimal());
    }

    private async Task<List<JsonElement>> ListAsync(string query) =>
        [.. (await GetAsync("/api/failed-messages" + query)).GetProperty("items").EnumerateArray()];

    private async Task<JsonElement> DetailAsync(string id) => await GetAsync($"/api/failed-messages/{id}");

    private async Task<JsonElement> GetAsync(string path)
    {
        using var response = await Http.GetAsync(new Uri(path, UriKind.Relative));
        return await ProducerApi.BodyAsync(response, 200);
    }

    private Task<HttpResponseMessage> PostAsync(string path) => Http.PostAsync(new Uri(path, UriKind.Relative), content: null);

    /// <summary>A POST of JSON, as <paramref name="actor"/> (a token of theirs) when named; X-Requested-By claims someone else and counts for nothing.</summary>
    private Task<HttpResponseMessage> PostJsonAsync(string path, string json, string? actor = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(path, UriKind.Relative))
        {
            Content = new StringContent(json, Encoding.UTF8, "application/json"),
        };
        if (actor is not null)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer",
                TestTokens.For(actor, EventReplay.Security.Roles.Operator));
            request.Headers.Add("X-Requested-By", "someone-else@example.test");
        }

        return Http.SendAsync(request);
    }

    private static async Task<JsonElement> ExpectAsync(HttpResponseMessage response, int status)
    {
        using (response)
        {
            if (status >= 400)
            {
                Assert.That((int)response.StatusCode, Is.EqualTo(status), await response.Content.ReadAsStringAsync());
                Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
                return default;
            }

            return await ProducerApi.BodyAsync(response, status);
        }
    }
}
