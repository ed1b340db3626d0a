using System.Net;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Producer;

public class IdempotencyTests : ProducerTest
{
    [Test]
    public async Task A_retry_with_the_same_key_returns_the_first_response_and_appends_once()
    {
        var id = ProducerApi.NewAccountId();
        await Api.OpenedAsync(id);
        var key = Guid.NewGuid().ToString();

        using var first = await Api.DepositAsync(id, "10.00", key);
        using var retry = await Api.DepositAsync(id, "10", key);

        Assert.Multiple(async () =>
        {
            Assert.That(retry.StatusCode, Is.EqualTo(first.StatusCode));
            Assert.That(await retry.Content.ReadAsStringAsync(), Is.EqualTo(await first.Content.ReadAsStringAsync()));
            Assert.That((await Api.StreamAsync(id))!, Has.Count.EqualTo(2));
        });
    }

    [Test]
    public async Task A_retried_open_returns_201_with_the_same_location()
    {
        var id = ProducerApi.NewAccountId();
        var key = Guid.NewGuid().ToString();

        using var first = await Api.OpenAsync(id, "Ada", key);
        using var retry = await Api.OpenAsync(id, "Ada", key);

        Assert.Multiple(async () =>
        {
            Assert.That(retry.StatusCode, Is.EqualTo(HttpStatusCode.Created));
            Assert.That(retry.Headers.Location, Is.EqualTo(first.Headers.Location));
            Assert.That(await retry.Content.ReadAsStringAsync(), Is.EqualTo(await first.Content.ReadAsStringAsync()));
        });
    }

    [Test]
    public async Task The_same_key_with_a_different_body_is_422_and_appends_nothing()
    {
        var id = ProducerApi.NewAccountId();
        await Api.OpenedAsync(id);
        var key = Guid.NewGuid().ToString();
        using (var first = await Api.DepositAsync(id, "10", key)) { await ProducerApi.BodyAsync(first, 200); }

        using var otherAmount = await Api.DepositAsync(id, "11", key);
        using var otherCommand = await Api.WithdrawAsync(id, "10", key);

        await AssertProblem(otherAmount, (HttpStatusCode)422);
        await AssertProblem(otherCommand, (HttpStatusCode)422);
        Assert.That((await Api.StreamAsync(id))!, Has.Count.EqualTo(2));
    }

    [Test]
    public async Task Concurrent_requests_with_one_key_append_once()
    {
        var id = ProducerApi.NewAccountId();
        await Api.OpenedAsync(id);
        var key = Guid.NewGuid().ToString();

        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Api.DepositAsync(id, "3", key)));
        var bodies = await Task.WhenAll(responses.Select(r => r.Content.ReadAsStringAsync()));

        Assert.Multiple(async () =>
        {
            Assert.That(responses.Select(r => r.StatusCode), Is.All.EqualTo(HttpStatusCode.OK));
            Assert.That(bodies.Distinct().Count(), Is.EqualTo(1));
            Assert.That((await Api.StreamAsync(id))!, Has.Count.EqualTo(2));
        });
        foreach (var response in responses)
        {
            response.Dispose();
        }
    }

    [Test]
    public async Task A_retry_after_a_producer_restart_still_returns_the_first_response()
    {
        await using var producer = new ServiceProcess("EventReplay.Producer", ProducerSetup.Environment);
        await producer.StartAsync();
        var id = ProducerApi.NewAccountId();
        var key = Guid.NewGuid().ToString();
        string firstBody;
        using (var client = producer.CreateClient())
        {
            var api = new ProducerApi(client);
            await api.OpenedAsync(id);
            using var first = await api.DepositAsync(id, "42.42", key);
            firstBody = (await ProducerApi.BodyAsync(first, 200)).GetRawText();
        }

        producer.Kill();
        await producer.StartAsync();

        using var again = producer.CreateClient();
        using var retry = await new ProducerApi(again).DepositAsync(id, "42.42", key);
        Assert.Multiple(async () =>
        {
            Assert.That((await ProducerApi.BodyAsync(retry, 200)).GetRawText(), Is.EqualTo(firstBody));
            Assert.That((await Api.StreamAsync(id))!, Has.Count.EqualTo(2));
        });
    }

    [Test]
    public async Task An_invalid_key_is_400()
    {
        var id = ProducerApi.NewAccountId();
        await Api.OpenedAsync(id);

        using var response = await Api.DepositAsync(id, "3", new string('k', 201));

        await AssertProblem(response, HttpStatusCode.BadRequest);
    }

    [Test]
    public async Task A_refusal_is_remembered_under_its_key_even_after_the_state_changes()
    {
        var id = ProducerApi.NewAccountId();
        await Api.OpenedAsync(id);
        var key = Guid.NewGuid().ToString();
        using (var refused = await Api.WithdrawAsync(id, "50", key)) { await AssertProblem(refused, HttpStatusCode.Conflict); }
        using (var deposit = await Api.DepositAsync(id, "100")) { await ProducerApi.BodyAsync(deposit, 200); }

        using var retry = await Api.WithdrawAsync(id, "50", key);

        await AssertProblem(retry, HttpStatusCode.Conflict);
        Assert.That((await Api.StreamAsync(id))!, Has.Count.EqualTo(2));
    }

    [Test]
    public async Task A_key_given_twice_is_400()
    {
        var id = ProducerApi.NewAccountId();
        await Api.OpenedAsync(id);
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/accounts/{id}/deposits")
        {
            Content = new StringContent("{\"amount\":1}", System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Idempotency-Key", ["a", "b"]);

        using var response = await Api.Http.SendAsync(request);

        await AssertProblem(response, HttpStatusCode.BadRequest);
    }
}
