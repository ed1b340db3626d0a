using System.Net;
using System.Text;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Producer;

/// <summary>Bad input gets a clear 4xx problem and changes nothing.</summary>
public class InputValidationTests : ProducerTest
{
    private string _id = null!;

    [SetUp]
    public async Task OpenAccount()
    {
        _id = ProducerApi.NewAccountId();
        await Api.OpenedAsync(_id);
    }

    [TearDown]
    public async Task NothingWasAppended()
    {
        Assert.That((await Api.StreamAsync(_id))!, Has.Count.EqualTo(1), "a refused request must not append");
    }

    [TestCase("0")]
    [TestCase("-5")]
    [TestCase("0.001")]
    [TestCase("12.345")]
    [TestCase("1000000000.01")]
    [TestCase("1e400")]
    [TestCase("\"10\"")]
    [TestCase("null")]
    [TestCase("true")]
    public async Task Invalid_amounts_are_400_with_errors(string amount)
    {
        using var deposit = await Api.DepositAsync(_id, amount);
        using var withdrawal = await Api.WithdrawAsync(_id, amount);

        var problem = await AssertProblem(deposit, HttpStatusCode.BadRequest);
        Assert.That(problem.GetProperty("errors").EnumerateObject().Select(p => p.Name), Has.Some.Contains("amount"));
        await AssertProblem(withdrawal, HttpStatusCode.BadRequest);
    }

    [TestCase("{\"amount\": 10")]
    [TestCase("not json")]
    [TestCase("")]
    [TestCase("[1,2]")]
    [TestCase("{}")]
    public async Task Malformed_or_incomplete_bodies_are_400(string json)
    {
        using var response = await Api.PostJsonAsync($"/api/accounts/{_id}/deposits", json);

        var problem = await AssertProblem(response, HttpStatusCode.BadRequest);
        Assert.That(problem.TryGetProperty("errors", out _), Is.True);
    }

    // A client and the server could each take a different one of the two values: a name given twice is refused,
    // in any case (names bind in any case), in any object of the body, even one the command does not read.
    [TestCase("""{"amount":1,"amount":2}""", "amount")]
    [TestCase("""{"amount":2,"amount":2}""", "amount")]
    [TestCase("""{"amount":1,"Amount":2}""", "Amount")]
    [TestCase("""{"amount":1,"\u0061mount":2}""", "amount")]
    [TestCase("""{"amount":1,"note":"a","note":"b"}""", "note")]
    [TestCase("""{"amount":1,"note":{"by":"a","by":"b"}}""", "note.by")]
    [TestCase("""{"amount":1,"notes":[{"by":"a"},{"by":"b","BY":"c"}]}""", "notes[1].BY")]
    public async Task A_property_given_twice_is_400_naming_it(string json, string name)
    {
        using var deposit = await Api.PostJsonAsync($"/api/accounts/{_id}/deposits", json);
        using var withdrawal = await Api.PostJsonAsync($"/api/accounts/{_id}/withdrawals", json);

        foreach (var response in new[] { deposit, withdrawal })
        {
            var problem = await AssertProblem(response, HttpStatusCode.BadRequest);
            Assert.That(problem.GetProperty("errors").EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { name }), problem.ToString());
        }
    }

    [TestCase("""{"accountId":"{id}","owner":"Ada","owner":"Bob"}""", "owner")]
    [TestCase("""{"accountId":"{id}","AccountId":"{id}-2","owner":"Ada"}""", "AccountId")]
    public async Task An_open_command_with_a_property_given_twice_is_400_and_opens_nothing(string json, string name)
    {
        var id = ProducerApi.NewAccountId();

        using var response = await Api.PostJsonAsync("/api/accounts", json.Replace("{id}", id, StringComparison.Ordinal));

        var problem = await AssertProblem(response, HttpStatusCode.BadRequest);
        Assert.Multiple(async () =>
        {
            Assert.That(problem.GetProperty("errors").TryGetProperty(name, out _), Is.True, problem.ToString());
            Assert.That(await Api.StreamAsync(id), Is.Null);
            Assert.That(await Api.StreamAsync(id + "-2"), Is.Null);
        });
    }

    [TestCase("application/json; charset=utf-16")]
    [TestCase("application/json; charset=iso-8859-1")]
    [TestCase("text/plain")]
    [TestCase("application/xml")]
    [TestCase("application/x-www-form-urlencoded")]
    public async Task Bodies_that_are_not_JSON_are_415(string contentType)
    {
        using var response = await Api.PostJsonAsync($"/api/accounts/{_id}/deposits", "{\"amount\":10}", contentType: contentType);

        await AssertProblem(response, HttpStatusCode.UnsupportedMediaType);
    }

    [Test]
    public async Task Bodies_over_64_KiB_are_413()
    {
        var padding = new string('x', 70 * 1024);
        using var response = await Api.PostJsonAsync($"/api/accounts/{_id}/deposits", $$"""{"amount":10,"note":"{{padding}}"}""");

        await AssertProblem(response, HttpStatusCode.RequestEntityTooLarge);
    }

    [Test]
    public async Task Chunked_bodies_over_64_KiB_are_413()
    {
        var padding = Encoding.UTF8.GetBytes($$"""{"amount":10,"note":"{{new string('x', 70 * 1024)}}"}""");
        using var content = new StreamContent(new MemoryStream(padding));
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/accounts/{_id}/deposits") { Content = content };
        request.Headers.TransferEncodingChunked = true;

        using var response = await Api.Http.SendAsync(request);

        await AssertProblem(response, HttpStatusCode.RequestEntityTooLarge);
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task A_body_of_exactly_64_KiB_is_accepted_however_it_is_framed(bool chunked)
    {
        var id = ProducerApi.NewAccountId();
        await Api.OpenedAsync(id);
        var head = Encoding.UTF8.GetBytes("""{"amount":1,"note":" """);
        var body = new byte[64 * 1024];
        head.CopyTo(body, 0);
        body.AsSpan(head.Length, body.Length - head.Length - 2).Fill((byte)'x');
        "\"}"u8.CopyTo(body.AsSpan(body.Length - 2));
        using var content = chunked ? new StreamContent(new MemoryStream(body)) : (HttpContent)new ByteArrayContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/accounts/{id}/deposits") { Content = content };
        request.Headers.TransferEncodingChunked = chunked;

        using var response = await Api.Http.SendAsync(request);

        await ProducerApi.BodyAsync(response, 200);
    }

    [TestCase("")]
    [TestCase("   ")]
    public async Task Blank_owners_are_400(string owner)
    {
        var id = ProducerApi.NewAccountId();
        using var response = await Api.OpenAsync(id, owner);

        await AssertProblem(response, HttpStatusCode.BadRequest);
        Assert.That(await Api.StreamAsync(id), Is.Null);
    }

    [TestCase("konto-ü")]
    [TestCase("a/b")]
    [TestCase("..")]
    [TestCase("a.b")]
    [TestCase("")]
    [TestCase("has space")]
    public async Task Invalid_account_ids_in_the_body_are_400(string accountId)
    {
        using var response = await Api.OpenAsync(accountId);

        var problem = await AssertProblem(response, HttpStatusCode.BadRequest);
        Assert.That(problem.GetProperty("errors").TryGetProperty("accountId", out _), Is.True);
    }

    [Test]
    public async Task Account_ids_longer_than_64_characters_are_400()
    {
        var id = new string('a', 65);
        using var open = await Api.OpenAsync(id);
        using var deposit = await Api.DepositAsync(id, "1");

        await AssertProblem(open, HttpStatusCode.BadRequest);
        await AssertProblem(deposit, HttpStatusCode.BadRequest);
        Assert.That(await Database.ScalarAsync(TestEnvironment.EventStoreConnectionString,
            "select count(*) from producer.mt_streams where id = @id", ("id", id)), Is.Zero);
    }

    [TestCase("%C3%BC")]
    [TestCase("a%2Fb")]
    [TestCase("a%2F..%2Fb")]
    [TestCase("..")]
    [TestCase("%2E%2E")]
    public async Task Invalid_account_ids_in_the_path_are_4xx(string encodedId)
    {
        using var response = await Api.PostJsonAsync($"/api/accounts/{encodedId}/deposits", "{\"amount\":10}");

        Assert.That((int)response.StatusCode, Is.InRange(400, 499), await response.Content.ReadAsStringAsync());
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
    }

    [TestCase("after=-1")]
    [TestCase("after=abc")]
    [TestCase("limit=0")]
    [TestCase("limit=10001")]
    public async Task Invalid_event_log_queries_are_400(string query)
    {
        using var response = await Api.Http.GetAsync(new Uri($"/api/events?{query}", UriKind.Relative));

        await AssertProblem(response, HttpStatusCode.BadRequest);
    }

    [TestCase("fromVersion=0")]
    [TestCase("limit=1001")]
    public async Task Invalid_stream_queries_are_400(string query)
    {
        using var response = await Api.Http.GetAsync(new Uri($"/api/streams/{_id}/events?{query}", UriKind.Relative));

        await AssertProblem(response, HttpStatusCode.BadRequest);
    }

    [Test]
    public async Task A_UTF8_byte_order_mark_is_accepted()
    {
        var id = ProducerApi.NewAccountId();
        using var content = new ByteArrayContent([0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes($$"""{"accountId":"{{id}}","owner":"Bom"}""")]);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };

        using var response = await Api.Http.PostAsync(new Uri("/api/accounts", UriKind.Relative), content);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Created), await response.Content.ReadAsStringAsync());
    }
}
