using System.Net;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Producer;

public class AccountCommandTests : ProducerTest
{
    [Test]
    public async Task Opening_an_account_returns_201_with_location_version_and_position()
    {
        var id = ProducerApi.NewAccountId();

        using var response = await Api.OpenAsync(id, "Ada");
        var body = await ProducerApi.BodyAsync(response, 201);

        Assert.Multiple(() =>
        {
            Assert.That(response.Headers.Location?.ToString(), Is.EqualTo($"/api/accounts/{id}"));
            Assert.That(response.Headers.ETag?.Tag, Is.EqualTo("\"1\""));
            Assert.That(body.GetProperty("accountId").GetString(), Is.EqualTo(id));
            Assert.That(body.GetProperty("version").GetInt64(), Is.EqualTo(1));
            Assert.That(body.GetProperty("position").GetInt64(), Is.GreaterThan(0));
        });
    }

    [Test]
    public async Task Events_are_stored_under_their_stable_names_with_the_documented_data()
    {
        var id = ProducerApi.NewAccountId();
        await Api.OpenedAsync(id);
        using (var deposit = await Api.DepositAsync(id, "125.50")) { await ProducerApi.BodyAsync(deposit, 200); }
        using (var withdrawal = await Api.WithdrawAsync(id, "20.00")) { await ProducerApi.BodyAsync(withdrawal, 200); }
        using (var close = await Api.CloseAsync(id)) { await ProducerApi.BodyAsync(close, 200); }

        var events = (await Api.StreamAsync(id))!;

        Assert.Multiple(() =>
        {
            Assert.That(events.Select(e => e.GetProperty("type").GetString()),
                Is.EqualTo(new[] { "AccountOpened", "FundsDeposited", "FundsWithdrawn", "AccountClosed" }));
            Assert.That(events.Select(e => e.GetProperty("version").GetInt64()), Is.EqualTo(new long[] { 1, 2, 3, 4 }));
            Assert.That(events.Select(e => e.GetProperty("position").GetInt64()), Is.Ordered.Ascending);
            Assert.That(events[0].GetProperty("data").GetProperty("accountId").GetString(), Is.EqualTo(id));
            Assert.That(events[0].GetProperty("data").GetProperty("owner").GetString(), Is.EqualTo("Ada"));
            Assert.That(events[0].GetProperty("data").EnumerateObject().Count(), Is.EqualTo(2));
            Assert.That(events[1].GetProperty("data").GetProperty("amount").GetDecimal(), Is.EqualTo(125.50m));
            Assert.That(events[2].GetProperty("data").GetProperty("amount").GetDecimal(), Is.EqualTo(20m));
            Assert.That(events[3].GetProperty("data").GetProperty("accountId").GetString(), Is.EqualTo(id));
            Assert.That(events[3].GetProperty("data").EnumerateObject().Count(), Is.EqualTo(1));
            Assert.That(events.All(e => e.GetProperty("streamId").GetString() == id), Is.True);
        });
    }

    [Test]
    public async Task Opening_an_existing_account_is_409()
    {
        var id = ProducerApi.NewAccountId();
        await Api.OpenedAsync(id);

        using var response = await Api.OpenAsync(id, "Someone else");

        await AssertProblem(response, HttpStatusCode.Conflict);
        Assert.That((await Api.StreamAsync(id))!, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Withdrawal_beyond_the_balance_is_409_and_appends_nothing()
    {
        var id = ProducerApi.NewAccountId();
        await Api.OpenedAsync(id);
        using (var deposit = await Api.DepositAsync(id, "10.00")) { await ProducerApi.BodyAsync(deposit, 200); }

        using var response = await Api.WithdrawAsync(id, "10.01");

        await AssertProblem(response, HttpStatusCode.Conflict);
        Assert.That((await Api.StreamAsync(id))!, Has.Count.EqualTo(2));
    }

    [Test]
    public async Task Withdrawal_of_the_whole_balance_succeeds()
    {
        var id = ProducerApi.NewAccountId();
        await Api.OpenedAsync(id);
        using (var deposit = await Api.DepositAsync(id, "10.00")) { await ProducerApi.BodyAsync(deposit, 200); }

        using var response = await Api.WithdrawAsync(id, "10");

        Assert.That((await ProducerApi.BodyAsync(response, 200)).GetProperty("version").GetInt64(), Is.EqualTo(3));
    }

    [Test]
    public async Task Commands_on_a_closed_account_are_409()
    {
        var id = ProducerApi.NewAccountId();
        await Api.OpenedAsync(id);
        using (var close = await Api.CloseAsync(id)) { await ProducerApi.BodyAsync(close, 200); }

        using var deposit = await Api.DepositAsync(id, "1");
        using var closeAgain = await Api.CloseAsync(id);

        await AssertProblem(deposit, HttpStatusCode.Conflict);
        await AssertProblem(closeAgain, HttpStatusCode.Conflict);
        Assert.That((await Api.StreamAsync(id))!, Has.Count.EqualTo(2));
    }

    [Test]
    public async Task Commands_on_an_unknown_account_are_404()
    {
        var id = ProducerApi.NewAccountId();

        using var deposit = await Api.DepositAsync(id, "1");
        using var withdrawal = await Api.WithdrawAsync(id, "1");
        using var close = await Api.CloseAsync(id);
        using var stream = await Api.Http.GetAsync(new Uri($"/api/streams/{id}/events", UriKind.Relative));

        await AssertProblem(deposit, HttpStatusCode.NotFound);
        await AssertProblem(withdrawal, HttpStatusCode.NotFound);
        await AssertProblem(close, HttpStatusCode.NotFound);
        await AssertProblem(stream, HttpStatusCode.NotFound);
    }

    [Test]
    public async Task A_matching_If_Match_applies_and_a_stale_one_is_412()
    {
        var id = ProducerApi.NewAccountId();
        await Api.OpenedAsync(id);

        using var matching = await Api.DepositAsync(id, "5", ifMatch: "\"1\"");
        using var stale = await Api.DepositAsync(id, "5", ifMatch: "\"1\"");

        Assert.That((await ProducerApi.BodyAsync(matching, 200)).GetProperty("version").GetInt64(), Is.EqualTo(2));
        await AssertProblem(stale, HttpStatusCode.PreconditionFailed);
        Assert.That(stale.Headers.ETag?.Tag, Is.EqualTo("\"2\""));
        Assert.That((await Api.StreamAsync(id))!, Has.Count.EqualTo(2));
    }

    [Test]
    public async Task A_malformed_If_Match_is_400()
    {
        var id = ProducerApi.NewAccountId();
        await Api.OpenedAsync(id);

        using var response = await Api.DepositAsync(id, "5", ifMatch: "one, two");

        var problem = await AssertProblem(response, HttpStatusCode.BadRequest);
        Assert.That(problem.GetProperty("errors").TryGetProperty("If-Match", out _), Is.True);
    }

    [TestCase("*", HttpStatusCode.OK)]
    [TestCase("\"7\", \"1\"", HttpStatusCode.OK)]
    [TestCase("\"7\", \"8\"", HttpStatusCode.PreconditionFailed)]
    [TestCase("W/\"1\"", HttpStatusCode.PreconditionFailed)]
    [TestCase("\"abc\"", HttpStatusCode.PreconditionFailed)]
    public async Task If_Match_follows_strong_comparison_over_stream_versions(string ifMatch, HttpStatusCode expected)
    {
        var id = ProducerApi.NewAccountId();
        await Api.OpenedAsync(id);

        using var response = await Api.DepositAsync(id, "5", ifMatch: ifMatch);

        Assert.That(response.StatusCode, Is.EqualTo(expected), await response.Content.ReadAsStringAsync());
    }

    [Test]
    public async Task If_Match_star_on_an_account_that_does_not_exist_is_412_for_open()
    {
        using var response = await Api.OpenAsync(ProducerApi.NewAccountId(), ifMatch: "*");

        await AssertProblem(response, HttpStatusCode.PreconditionFailed);
    }
}
