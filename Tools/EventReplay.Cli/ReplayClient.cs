using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace EventReplay.Cli;

/// <summary>What the API says of a replay (the fields the CLI shows).</summary>
public sealed record ReplayView(string ReplayId, string Target, string Mode, string Status, long FromPosition, long? ToPosition,
    long Position, long EventsTotal, long EventsSent, long EventsApplied, long EventsSkipped, long EventsParked, long EventsRejected,
    double EventsPerSecond, double? EtaSeconds, string? RequestedBy, string? Reason, DateTimeOffset RequestedAt,
    DateTimeOffset? StartedAt, DateTimeOffset? CompletedAt, string? Error)
{
    public bool IsOver => Status is "completed" or "cancelled" or "failed";

    public long Done => EventsApplied + EventsSkipped + EventsParked + EventsRejected;
}

/// <summary>The body of <c>POST /api/replays</c>; unset fields are left out.</summary>
public sealed record StartRequest(string? ReplayId, string Target, string Mode, long? FromPosition, long? ToPosition,
    DateTimeOffset? FromTime, DateTimeOffset? ToTime, string[]? StreamIds, string[]? EventTypes, int? BatchSize,
    int? MaxEventsPerSecond, string? Reason, bool? DryRun);

/// <summary>An answer that is not a success, with the problem details the API gave, ready to print.</summary>
public sealed class ApiException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}

/// <summary>The replay API over HTTP.</summary>
public sealed class ReplayClient(HttpClient http, string requestedBy)
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public async Task<(ReplayView? Replay, JsonElement Body)> StartAsync(StartRequest request, CancellationToken cancellationToken)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, "api/replays") { Content = JsonContent.Create(request, options: Json) };
        message.Headers.Add("X-Requested-By", requestedBy);
        using var response = await SendAsync(message, cancellationToken);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>(Json, cancellationToken);
        return (request.DryRun == true ? null : body.Deserialize<ReplayView>(Json), body);
    }

    public async Task<IReadOnlyList<ReplayView>> ListAsync(int limit, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(new HttpRequestMessage(HttpMethod.Get, $"api/replays?limit={limit}"), cancellationToken);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>(Json, cancellationToken);
        return body.GetProperty("replays").Deserialize<List<ReplayView>>(Json) ?? [];
    }

    public async Task<ReplayView> ShowAsync(string id, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(new HttpRequestMessage(HttpMethod.Get, $"api/replays/{Uri.EscapeDataString(id)}"), cancellationToken);
        return (await response.Content.ReadFromJsonAsync<ReplayView>(Json, cancellationToken))!;
    }

    public async Task ControlAsync(string id, string command, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(
            new HttpRequestMessage(HttpMethod.Post, $"api/replays/{Uri.EscapeDataString(id)}/{command}"), cancellationToken);
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException exception)
        {
            throw new ApiException(0, $"Cannot reach the API at {http.BaseAddress}: {exception.Message}");
        }

        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            var problem = await ProblemAsync(response, cancellationToken);
            throw new ApiException((int)response.StatusCode, response.StatusCode == System.Net.HttpStatusCode.Unauthorized
                ? problem + Environment.NewLine + "The API wants a valid token: give one with --token or EVENTREPLAY_TOKEN "
                  + "(on a machine running eng/run.sh, eng/eventreplay token --role operator --name YOU prints one)."
                : problem);
        }
    }

    /// <summary>A problem-details answer as one readable message: title, detail, and each field's errors.</summary>
    private static async Task<string> ProblemAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        try
        {
            var problem = JsonDocument.Parse(text).RootElement;
            var lines = new List<string> { $"{(int)response.StatusCode} {Text(problem, "title") ?? response.ReasonPhrase}" };
            if (Text(problem, "detail") is { } detail)
            {
                lines.Add(detail);
            }

            if (problem.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Object)
            {
                lines.AddRange(errors.EnumerateObject().SelectMany(field => field.Value.EnumerateArray().Select(e => $"{field.Name}: {e.GetString()}")));
            }

            return string.Join(Environment.NewLine, lines);
        }
        catch (JsonException)
        {
            return $"{(int)response.StatusCode} {response.ReasonPhrase}{(text.Length > 0 ? ": " + text : "")}";
        }
    }

    private static string? Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
