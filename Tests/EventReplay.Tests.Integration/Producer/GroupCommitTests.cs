using System.Net;
using System.Text.Json;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Producer;

/// <summary>
/// The producer's group commit: many commands per transaction, more than one producer process over one store, and a
/// bounded queue in front of the writers.
/// </summary>
public class GroupCommitTests : ProducerTest
{
    [Test]
    public async Task Two_producer_processes_writing_the_same_accounts_keep_every_stream_contiguous()
    {
        await using var second = new ServiceProcess("EventReplay.Producer", ProducerSetup.Environment);
        await second.StartAsync();
        using var secondClient = second.CreateClient();
        var apis = new[] { Api, new ProducerApi(secondClient) };
        var accounts = Enumerable.Range(0, 4).Select(_ => ProducerApi.NewAccountId()).ToList();
        foreach (var account in accounts)
        {
            await Api.OpenedAsync(account);
        }

        // 400 deposits, 32 at a time, alternating between the two processes and the four accounts.
        using var gate = new SemaphoreSlim(32);
        var acknowledged = await Task.WhenAll(Enumerable.Range(0, 400).Select(async i =>
        {
            await gate.WaitAsync();
            try
            {
                using var response = await apis[i % 2].DepositAsync(accounts[i / 2 % 4], "1");
                var body = await ProducerApi.BodyAsync(response, 200);
                return (Account: body.GetProperty("accountId").GetString()!, Version: body.GetProperty("version").GetInt64(),
                    Position: body.GetProperty("position").GetInt64());
            }
            finally
            {
                gate.Release();
            }
        }));

        foreach (var account in accounts)
        {
            var stream = (await Api.StreamAsync(account))!;
            var versions = stream.Select(e => e.GetProperty("version").GetInt64()).ToList();
            var positions = stream.Select(e => e.GetProperty("position").GetInt64()).ToList();
            var mine = acknowledged.Where(a => a.Account == account).ToList();
            Assert.Multiple(() =>
            {
                Assert.That(versions, Is.EqualTo(Enumerable.Range(1, 101).Select(v => (long)v)), account);
                Assert.That(positions, Is.Ordered.Ascending.And.Unique, "positions rise with versions within a stream");
                Assert.That(mine.Select(a => (a.Version, a.Position)),
                    Is.EquivalentTo(stream.Skip(1).Select(e => (e.GetProperty("version").GetInt64(), e.GetProperty("position").GetInt64()))));
            });
        }
    }

    [Test]
    public async Task A_process_does_not_decide_on_its_cached_state_once_another_process_changed_the_account()
    {
        await using var second = new ServiceProcess("EventReplay.Producer", ProducerSetup.Environment);
        await second.StartAsync();
        using var secondClient = second.CreateClient();
        var other = new ProducerApi(secondClient);
        var id = ProducerApi.NewAccountId();
        await Api.OpenedAsync(id);
        using (var deposit = await Api.DepositAsync(id, "10"))
        {
            await ProducerApi.BodyAsync(deposit, 200);
        }

        // The first process keeps the account at balance 10; the second takes it all.
        using (var withdrawal = await other.WithdrawAsync(id, "10"))
        {
            await ProducerApi.BodyAsync(withdrawal, 200);
        }

        using var stale = await Api.WithdrawAsync(id, "1");
        using var deposited = await Api.DepositAsync(id, "5");
        Assert.Multiple(async () =>
        {
            Assert.That(stale.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
            Assert.That((await ProducerApi.BodyAsync(deposited, 200)).GetProperty("version").GetInt64(), Is.EqualTo(4));
        });
    }

    [Test]
    public async Task Four_writers_committing_small_batches_of_two_accounts_answer_every_command_from_the_current_state()
    {
        var environment = new Dictionary<string, string>(ProducerSetup.Environment)
        {
            ["Producer__Writers"] = "4",
            ["Producer__MaxBatch"] = "3",
        };
        await using var producer = new ServiceProcess("EventReplay.Producer", environment);
        await producer.StartAsync();
        using var client = producer.CreateClient();
        var api = new ProducerApi(client);
        var accounts = new[] { ProducerApi.NewAccountId(), ProducerApi.NewAccountId() };
        foreach (var account in accounts)
        {
            await api.OpenedAsync(account);
        }

        // Writers commit batches of one account back to back and cache its state after their commits, in any order.
        using var gate = new SemaphoreSlim(32);
        var statuses = await Task.WhenAll(Enumerable.Range(0, 600).Select(async i =>
        {
            await gate.WaitAsync();
            try
            {
                using var response = await api.DepositAsync(accounts[i % 2], "1");
                return response.StatusCode;
            }
            finally
            {
                gate.Release();
            }
        }));

        Assert.That(statuses, Is.All.EqualTo(HttpStatusCode.OK));
        foreach (var account in accounts)
        {
            Assert.That((await api.StreamAsync(account))!.Select(e => e.GetProperty("version").GetInt64()),
                Is.EqualTo(Enumerable.Range(1, 301).Select(v => (long)v)));
        }
    }

    [Test]
    public async Task One_key_sent_at_once_with_two_different_bodies_appends_once_and_answers_the_others_by_it()
    {
        var id = ProducerApi.NewAccountId();
        await Api.OpenedAsync(id);
        var key = Guid.NewGuid().ToString();

        var responses = await Task.WhenAll(Enumerable.Range(0, 16).Select(async i =>
        {
            using var response = await Api.DepositAsync(id, i % 4 == 0 ? "4" : "3", key);
            return (Amount: i % 4 == 0 ? 4m : 3m, response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        }));

        var stream = (await Api.StreamAsync(id))!;
        Assert.That(stream, Has.Count.EqualTo(2));
        var applied = stream[1].GetProperty("data").GetProperty("amount").GetDecimal();
        Assert.Multiple(() =>
        {
            Assert.That(responses.Where(r => r.Amount == applied).Select(r => r.StatusCode), Is.All.EqualTo(HttpStatusCode.OK));
            Assert.That(responses.Where(r => r.Amount == applied).Select(r => r.Body).Distinct().Count(), Is.EqualTo(1));
            Assert.That(responses.Where(r => r.Amount != applied).Select(r => r.StatusCode), Is.All.EqualTo((HttpStatusCode)422));
        });
    }

    [Test]
    public async Task A_full_queue_answers_503_with_Retry_After_and_writes_nothing_for_those_commands()
    {
        var environment = new Dictionary<string, string>(ProducerSetup.Environment)
        {
            ["Producer__Writers"] = "1",
            ["Producer__MaxBatch"] = "1",
            ["Producer__QueueCapacity"] = "2",
        };
        await using var narrow = new ServiceProcess("EventReplay.Producer", environment);
        await narrow.StartAsync();
        using var client = narrow.CreateClient();
        var api = new ProducerApi(client);
        var id = ProducerApi.NewAccountId();
        await api.OpenedAsync(id);

        var responses = await Task.WhenAll(Enumerable.Range(0, 300).Select(async _ =>
        {
            using var response = await api.DepositAsync(id, "1");
            return (response.StatusCode, RetryAfter: response.Headers.RetryAfter?.Delta,
                Type: response.Content.Headers.ContentType?.MediaType);
        }));

        var accepted = responses.Count(r => r.StatusCode == HttpStatusCode.OK);
        var refused = responses.Where(r => r.StatusCode == HttpStatusCode.ServiceUnavailable).ToList();
        Assert.Multiple(async () =>
        {
            Assert.That(accepted + refused.Count, Is.EqualTo(responses.Length), "only 200 and 503");
            Assert.That(refused, Is.Not.Empty, "a queue of 2 took 300 commands at once");
            Assert.That(refused.Select(r => r.RetryAfter), Is.All.EqualTo(TimeSpan.FromSeconds(1)));
            Assert.That(refused.Select(r => r.Type), Is.All.EqualTo("application/problem+json"));
            Assert.That((await Api.StreamAsync(id))!, Has.Count.EqualTo(accepted + 1));
        });
    }
}
