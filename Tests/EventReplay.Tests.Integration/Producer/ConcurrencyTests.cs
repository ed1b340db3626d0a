using System.Collections.Concurrent;
using System.Net;
using EventReplay.Tests.Integration.Infrastructure;
using Npgsql;

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
            // Commands on one account queue behind each other, so none has to be refused.
            Assert.That(responses.Select(r => r.StatusCode), Is.All.EqualTo(HttpStatusCode.OK));
            Assert.That(successes, Is.Unique);
            Assert.That(stream, Has.Count.EqualTo(successes.Count + 1));
            Assert.That(stream.Skip(1).Select(e => e.GetProperty("version").GetInt64()), Is.EquivalentTo(successes));
        });
    }

    [Test]
    public async Task One_key_used_on_three_accounts_at_once_appends_once()
    {
        var start = await Api.HeadAsync();
        var key = Guid.NewGuid().ToString();
        var accounts = new[] { ProducerApi.NewAccountId(), ProducerApi.NewAccountId(), ProducerApi.NewAccountId() };
        foreach (var account in accounts)
        {
            await Api.OpenedAsync(account);
        }

        var statuses = await Task.WhenAll(accounts.Select(async account =>
        {
            using var response = await Api.DepositAsync(account, "1", key);
            return response.StatusCode;
        }));
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
    public async Task The_log_hides_the_tombstones_Marten_writes_for_failed_appends()
    {
        var start = await Api.HeadAsync();
        // The row Marten writes when an append fails after drawing its position (stream mt_tombstone, type tombstone).
        await Database.ScalarAsync(TestEnvironment.EventStoreConnectionString,
            """
            insert into producer.mt_streams (id, version) values ('mt_tombstone', 0) on conflict do nothing;
            insert into producer.mt_events (seq_id, id, stream_id, version, data, type, timestamp, mt_dotnet_type)
            select s, gen_random_uuid(), 'mt_tombstone', s, '{}', 'tombstone', '-infinity', 'JasperFx.Events.Tombstone, JasperFx.Events'
            from nextval('producer.mt_events_sequence') s;
            select 0
            """);
        var id = ProducerApi.NewAccountId();
        await Api.OpenedAsync(id);

        var (events, _) = await Api.EventsAsync(start, 10_000);

        Assert.That(events.Select(e => e.GetProperty("streamId").GetString()), Is.EqualTo(new[] { id }));
    }

    [Test]
    public async Task A_reader_waits_for_an_append_in_flight_instead_of_skipping_its_position()
    {
        var start = await Api.HeadAsync();
        await using var inFlight = new NpgsqlConnection(TestEnvironment.EventStoreConnectionString);
        await inFlight.OpenAsync();
        await using var transaction = await inFlight.BeginTransactionAsync();
        // What an append does before it writes: take the append lock (same key as AppendLock) and draw a position.
        await Database.ExecuteAsync(inFlight, "select pg_advisory_xact_lock_shared(4996271277087936068)");
        var held = await Database.ScalarAsync(inFlight, "select nextval('producer.mt_events_sequence')");
        var later = ProducerApi.NewAccountId();
        var laterPosition = (await Api.OpenedAsync(later)).GetProperty("position").GetInt64();
        var readerStarted = await Database.ScalarAsync(TestEnvironment.EventStoreConnectionString,
            "select (extract(epoch from clock_timestamp()) * 1000000)::bigint");

        var read = Api.EventsAsync(start, 10_000);
        await Eventually.Until(
            () => Database.ScalarAsync(TestEnvironment.EventStoreConnectionString,
                """
                select count(*) from pg_stat_activity
                where pid <> pg_backend_pid() and query like '%from pg_locks%'
                  and query_start >= to_timestamp(@started / 1000000.0)
                """, ("started", readerStarted)),
            sessions => sessions > 0, TimeSpan.FromSeconds(5), "the reader to look for appends in flight");
        var heldStream = ProducerApi.NewAccountId();
        await Database.ExecuteAsync(inFlight,
            $"""
            insert into producer.mt_streams (id, version) values ('{heldStream}', 1);
            insert into producer.mt_events (seq_id, id, stream_id, version, data, type, mt_dotnet_type)
            select {held}, gen_random_uuid(), '{heldStream}', 1, jsonb_set(data, array['accountId'], to_jsonb('{heldStream}'::text)), type, mt_dotnet_type
            from producer.mt_events where seq_id = {laterPosition}
            """);
        await transaction.CommitAsync();
        var (events, _) = await read;

        Assert.Multiple(() =>
        {
            Assert.That(held, Is.LessThan(laterPosition));
            Assert.That(events.Select(e => e.GetProperty("position").GetInt64()), Is.EqualTo(new[] { held, laterPosition }));
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
        var allWriters = Task.WhenAll(writers);
        _ = allWriters.ContinueWith(_ => writersDone = true, TaskScheduler.Default);

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
