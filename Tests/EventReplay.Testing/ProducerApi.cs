using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace EventReplay.Testing;

/// <summary>A thin client for the write API and the event-store reads, returning raw responses to assert on.</summary>
public sealed class ProducerApi(HttpClient http)
{
    public HttpClient Http => http;

    public static string NewAccountId() => $"acc-{Guid.NewGuid():N}";

    public Task<HttpResponseMessage> OpenAsync(string accountId, string owner = "Ada", string? key = null, string? ifMatch = null) =>
        PostJsonAsync("/api/accounts", $$"""{"accountId":{{JsonSerializer.Serialize(accountId)}},"owner":{{JsonSerializer.Serialize(owner)}}}""", key, ifMatch);

    public Task<HttpResponseMessage> DepositAsync(string accountId, string amount, string? key = null, string? ifMatch = null) =>
        PostJsonAsync($"/api/accounts/{accountId}/deposits", $$"""{"amount":{{amount}}}""", key, ifMatch);

    public Task<HttpResponseMessage> WithdrawAsync(string accountId, string amount, string? key = null, string? ifMatch = null) =>
        PostJsonAsync($"/api/accounts/{accountId}/withdrawals", $$"""{"amount":{{amount}}}""", key, ifMatch);

    public Task<HttpResponseMessage> CloseAsync(string accountId, string? key = null, string? ifMatch = null) =>
        SendAsync(new HttpRequestMessage(HttpMethod.Post, $"/api/accounts/{accountId}/close"), key, ifMatch);

    public Task<HttpResponseMessage> PostJsonAsync(string path, string json, string? key = null, string? ifMatch = null,
        string contentType = "application/json")
    {
        var content = new StringContent(json, Encoding.UTF8);
        content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse(contentType);
        return SendAsync(new HttpRequestMessage(HttpMethod.Post, path) { Content = content }, key, ifMatch);
    }

    public async Task<JsonElement> OpenedAsync(string accountId)
    {
        using var response = await OpenAsync(accountId);
        return await BodyAsync(response, 201);
    }

    /// <summary>Every event of a stream (all pages), or null when the stream does not exist.</summary>
    public async Task<IReadOnlyList<JsonElement>?> StreamAsync(string accountId)
    {
        var events = new List<JsonElement>();
        var from = 1L;
        while (true)
        {
            using var response = await http.GetAsync(new Uri($"/api/streams/{accountId}/events?fromVersion={from}&limit=1000", UriKind.Relative));
            if (response.StatusCode == System.Net.HttpStatusCode.NotFound)
            {
                return null;
            }

            var page = await BodyAsync(response, 200);
            var batch = page.GetProperty("events").EnumerateArray().ToList();
            events.AddRange(batch);
            if (batch.Count == 0)
            {
                return events;
            }

            from = page.GetProperty("next").GetInt64();
        }
    }

    public async Task<(IReadOnlyList<JsonElement> Events, long Next)> EventsAsync(long after, int limit)
    {
        using var response = await http.GetAsync(new Uri($"/api/events?after={after}&limit={limit}", UriKind.Relative));
        var page = await BodyAsync(response, 200);
        return (page.GetProperty("events").EnumerateArray().ToList(), page.GetProperty("next").GetInt64());
    }

    /// <summary>The whole log, every page.</summary>
    public async Task<List<JsonElement>> AllEventsAsync()
    {
        var all = new List<JsonElement>();
        var after = 0L;
        while (true)
        {
            var (events, next) = await EventsAsync(after, 10_000);
            if (events.Count == 0)
            {
                return all;
            }

            all.AddRange(events);
            after = next;
        }
    }

    /// <summary>The log's last position right now.</summary>
    public async Task<long> HeadAsync()
    {
        var after = 0L;
        while (true)
        {
            var (events, next) = await EventsAsync(after, 10_000);
            if (events.Count == 0)
            {
                return after;
            }

            after = next;
        }
    }

    /// <summary>The response's JSON body; throws <see cref="UnexpectedStatusException"/> when the status is not the one expected.</summary>
    public static async Task<JsonElement> BodyAsync(HttpResponseMessage response, int expectedStatus)
    {
        var text = await response.Content.ReadAsStringAsync();
        if ((int)response.StatusCode != expectedStatus)
        {
            throw new UnexpectedStatusException(
                $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri} answered {(int)response.StatusCode}, expected {expectedStatus}: {text}");
        }

        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, string? key, string? ifMatch)
    {
        if (key is not null)
        {
            request.Headers.Add("Idempotency-Key", key);
        }

        if (ifMatch is not null)
        {
            request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
        }

        return http.SendAsync(request);
    }
}

/// <summary>An answer with another status than the caller expected (in a test: a failure, with the request and the body).</summary>
public sealed class UnexpectedStatusException(string message) : Exception(message);
