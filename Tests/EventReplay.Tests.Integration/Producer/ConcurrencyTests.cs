using System.Collections.Concurrent;
using System.Net;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Producer;

public class ConcurrencyTests : ProducerTest
{
    [Test]
    public async Task Twenty_concurrent_deposits_to_one_account_never_fail_and_never_share_a_version()
    {
        var id = ProducerApi.NewAccountId();
        await Api.OpenedAsync(id);

        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
        {
            using var response = await Api.DepositAsync(id, "1.25");
            var text = await response.Content.ReadAsStringAsync();
            return (response.StatusCode, Body: text);
        }));

        var successes = responses.Where(r => r.StatusCode == HttpStatusCode.OK)
            .Select(r => System.Text.Json.JsonDocument.Parse(r.Body).RootElement.GetProperty("version").GetInt64())
            .ToList();
        var stream = (await Api.StreamAsync(id))!;
        Assert.Multiple(() =>
        {
            Assert.That(responses.Select(r => r.StatusCode),
                Is.All.AnyOf(HttpStatusCode.OK, HttpStatusCode.Conflict, HttpStatusCode.PreconditionFailed));
            Assert.That(successes, Is.Unique);
            Assert.That(stream, Has.Count.EqualTo(successes.Count + 1));
            Assert.That(stream.Skip(1).Select(e => e.GetProperty("version").GetInt64()), Is.EquivalentTo(successes));
        });
    }

    [Test]
    public async Task A_failed_append_leaves_nothing_in_the_log()
    {
        var start = await Api.HeadAsync();
        var key = Guid.NewGuid().ToString();
        var accounts = new[] { ProducerApi.NewAccountId(), ProducerApi.NewAccountId(), ProducerApi.NewAccountId() };
        foreach (var account in accounts)
        {
            await Api.OpenedAsync(account);
        }

        // One key on three accounts at once: one append wins, the others fail at commit and are refused.
        var statuses = await Task.WhenAll(accounts.Select(async account =>
        {
            using var response = await Api.DepositAsync(account, "1", key);
            return response.StatusCode;
        }));
        // Marten fills the positions the failed appends had drawn with tombstone rows, in the background.
        await Eventually.Until(
            () => Database.ScalarAsync(TestEnvironment.PostgresConnectionString,
                "select count(*) from producer.mt_events where seq_id > @start and type = 'tombstone'", ("start", start)),
            tombstones => tombstones > 0, TimeSpan.FromSeconds(10), "Marten to record the failed appends' tombstones");
        var (events, _) = await Api.EventsAsync(start, 10_000);

        Assert.Multiple(() =>
        {
            Assert.That(statuses.Count(s => s == HttpStatusCode.OK), Is.EqualTo(1));
            Assert.That(statuses.Count(s => s == (HttpStatusCode)422), Is.EqualTo(2));
            Assert.That(events.Select(e => e.GetProperty("type").GetString()),
                Is.EqualTo(new[] { "AccountOpened", "AccountOpened", "AccountOpened", "FundsDeposited" }));
        });
    }

    [Test]
    public async Task Concurrent_commands_with_the_same_If_Match_let_exactly_one_through()
    {
        var id = ProducerApi.NewAccountId();
        await Api.OpenedAsync(id);

        var statuses = await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
        {
            using var response = await Api.DepositAsync(id, "1", ifMatch: "\"1\"");
            return response.StatusCode;
        }));

        Assert.Multiple(async () =>
        {
            Assert.That(statuses.Count(s => s == HttpStatusCode.OK), Is.EqualTo(1));
            Assert.That(statuses.Count(s => s == HttpStatusCode.PreconditionFailed), Is.EqualTo(19));
            Assert.That((await Api.StreamAsync(id))!, Has.Count.EqualTo(2));
        });
    }

    [Test]
    public async Task A_reader_tailing_the_log_while_8_writers_append_sees_every_position_exactly_once()
    {
        var start = await Api.HeadAsync();
        var acknowledged = new ConcurrentBag<long>();
        var writersDone = false;

        var writers = Enumerable.Range(0, 8).Select(async _ =>
        {
            var id = ProducerApi.NewAccountId();
            acknowledged.Add((await Api.OpenedAsync(id)).GetProperty("position").GetInt64());
            for (var i = 0; i < 60; i++)
            {
                using var response = await Api.DepositAsync(id, "1");
                acknowledged.Add((await ProducerApi.BodyAsync(response, 200)).GetProperty("position").GetInt64());
            }
        }).ToList();
        var allWriters = Task.WhenAll(writers).ContinueWith(_ => writersDone = true, TaskScheduler.Default);

        var seen = new List<long>();
        var cursor = start;
        while (true)
        {
            var finished = writersDone;
            var (events, next) = await Api.EventsAsync(cursor, 7);
            seen.AddRange(events.Select(e => e.GetProperty("position").GetInt64()));
            cursor = next;
            if (finished && events.Count == 0)
            {
                break;
            }
        }

        await allWriters;
        var (final, _) = await Api.EventsAsync(start, 10_000);
        var log = final.Select(e => e.GetProperty("position").GetInt64()).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(final.Select(e => e.GetProperty("type").GetString()), Is.All.AnyOf("AccountOpened", "FundsDeposited"));
            Assert.That(seen, Is.Unique.And.Ordered.Ascending);
            Assert.That(seen, Is.EqualTo(log), "the tailing reader skipped or invented a position");
            Assert.That(log, Is.SupersetOf(acknowledged));
            Assert.That(acknowledged, Has.Count.EqualTo(8 * 61));
        });
    }
}
