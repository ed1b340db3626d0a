using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using EventReplay.Hosting;

namespace EventReplay.Monitor.Console;

/// <summary>A replay as the replay service shows it (<c>GET /api/replays</c>).</summary>
public sealed record ReplayItem(string ReplayId, string Target, string Mode, string Status, long FromPosition, long? ToPosition, long EventsTotal,
    long EventsSent, long EventsApplied, long EventsSkipped, long EventsParked, long EventsRejected, double EventsPerSecond, double? EtaSeconds,
    string? RequestedBy, string? Reason, DateTimeOffset RequestedAt, DateTimeOffset? CompletedAt, string? Error)
{
    public long Done => EventsApplied + EventsSkipped + EventsParked + EventsRejected;

    public bool Running => Status is "running" or "requested" or "paused";
}

/// <summary>
/// The replay service's API, as the console uses it (<c>Monitoring:ReplayApi</c>, default <c>http://127.0.0.1:5131/</c>):
/// list, preview (a dry run), start, pause, resume, cancel. Its answers are passed on as they are: a refusal's
/// problem details become the console's message.
/// </summary>
public sealed class ReplayApi(IHttpClientFactory http)
{
    public const string HttpClientName = "replay";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static void Configure(HttpClient client, IConfiguration configuration)
    {
        client.BaseAddress = new Uri(configuration["Monitoring:ReplayApi"] ?? "http://127.0.0.1:5131/");
        client.Timeout = TimeSpan.FromSeconds(5);
    }

    /// <summary>How long a page or live stream waits for the list: half the request deadline, the rest is the page's own.</summary>
    public static readonly TimeSpan Patience = RequestDeadline.Limit / 2;

    /// <summary>
    /// The newest 50 replays, or with <paramref name="running"/> those not yet ended (requested, running, paused) among the
    /// newest 200; null when the replay service does not answer within <see cref="Patience"/> (down, slow, or an answer
    /// that does not read), which the console shows as such instead of failing the page.
    /// </summary>
    public async Task<IReadOnlyList<ReplayItem>?> TryListAsync(bool running, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(Patience);
        try
        {
            var client = http.CreateClient(HttpClientName);
            using var document = JsonDocument.Parse(await client.GetStringAsync(
                new Uri($"api/replays?limit={(running ? 200 : 50)}", UriKind.Relative), deadline.Token));
            var replays = document.RootElement.GetProperty("replays").EnumerateArray().Select(replay => replay.Deserialize<ReplayItem>(Json)!);
            return [.. running ? replays.Where(replay => replay.Running) : replays];
        }
        catch (Exception exception) when (exception is HttpRequestException or JsonException or KeyNotFoundException
                                          || exception is OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>Sends a start request (its dry run when <paramref name="dryRun"/>); the answer's status and body.</summary>
    public async Task<(int Status, JsonElement Body)> StartAsync(IReadOnlyDictionary<string, object?> request, bool dryRun,
        CancellationToken cancellationToken)
    {
        var body = request.Where(field => field.Value is not null).ToDictionary(field => field.Key, field => field.Value);
        using var message = new HttpRequestMessage(HttpMethod.Post, new Uri(dryRun ? "api/replays/dry-run" : "api/replays", UriKind.Relative))
        {
            Content = JsonContent.Create(body, options: Json),
        };
        return await SendAsync(message, cancellationToken);
    }

    /// <summary>pause, resume or cancel.</summary>
    public async Task<(int Status, JsonElement Body)> ControlAsync(string replayId, string action, CancellationToken cancellationToken)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, new Uri($"api/replays/{Uri.EscapeDataString(replayId)}/{action}", UriKind.Relative));
        return await SendAsync(message, cancellationToken);
    }

    private async Task<(int Status, JsonElement Body)> SendAsync(HttpRequestMessage message, CancellationToken cancellationToken)
    {
        var client = http.CreateClient(HttpClientName);
        using var response = await client.SendAsync(message, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        var body = text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
        return ((int)response.StatusCode, body);
    }

    /// <summary>A refusal's problem details as one line: its title and each field's errors.</summary>
    public static string Problem(JsonElement problem)
    {
        if (problem.ValueKind != JsonValueKind.Object)
        {
            return "The replay service refused the request.";
        }

        var text = new StringBuilder(problem.TryGetProperty("title", out var title) ? title.GetString() : "Refused.");
        if (problem.TryGetProperty("detail", out var detail) && detail.ValueKind == JsonValueKind.String)
        {
            text.Append(' ').Append(detail.GetString());
        }

        if (problem.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Object)
        {
            foreach (var field in errors.EnumerateObject())
            {
                text.Append(CultureInfo.InvariantCulture, $" {field.Name}: {string.Join(" ", field.Value.EnumerateArray().Select(e => e.GetString()))}");
            }
        }

        return text.ToString();
    }
}
