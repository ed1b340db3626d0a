using System.Text.Json;
using EventReplay.Cli.Api;

namespace EventReplay.Cli.Api
{
    /// <summary>What the CLI reads of a replay besides what the API sends.</summary>
    public partial class ReplayView
    {
        public long Done => EventsApplied + EventsSkipped + EventsParked + EventsRejected;
    }
}

namespace EventReplay.Cli
{
    /// <summary>An answer that is not a success, with the problem details the API gave, ready to print.</summary>
    public sealed class ApiException(int status, string message) : Exception(message)
    {
        public int Status { get; } = status;
    }

    /// <summary>
    /// The replay API through the client generated from the public contract (<c>docs/openapi/v1.json</c>, see the
    /// project file): each call, with its failures as an <see cref="ApiException"/> that says what the API said.
    /// </summary>
    public sealed class ReplayClient(HttpClient http, string requestedBy)
    {
        public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

        // The answer as text, so a refusal keeps its problem details for the message.
        private readonly ReplaysClient _api = new(http) { ReadResponseAsString = true };

        public Task<ReplayPlan> PlanAsync(ReplayRequest request, CancellationToken cancellationToken) =>
            CallAsync(() => _api.PlanReplayAsync(request, cancellationToken));

        public Task<ReplayView> StartAsync(ReplayRequest request, CancellationToken cancellationToken) =>
            CallAsync(() => _api.StartReplayAsync(request, requestedBy, cancellationToken));

        public async Task<IReadOnlyList<ReplayView>> ListAsync(int limit, CancellationToken cancellationToken) =>
            [.. (await CallAsync(() => _api.ListReplaysAsync(limit, cancellationToken))).Replays];

        public Task<ReplayView> ShowAsync(string id, CancellationToken cancellationToken) =>
            CallAsync(() => _api.GetReplayAsync(id, cancellationToken));

        public Task ControlAsync(string id, string command, CancellationToken cancellationToken) => CallAsync(async () =>
        {
            await (command switch
            {
                "pause" => _api.PauseReplayAsync(id, cancellationToken),
                "resume" => _api.ResumeReplayAsync(id, cancellationToken),
                "cancel" => _api.CancelReplayAsync(id, cancellationToken),
                _ => throw new ArgumentOutOfRangeException(nameof(command), command, "pause, resume or cancel"),
            });
            return true;
        });

        private async Task<T> CallAsync<T>(Func<Task<T>> call)
        {
            try
            {
                return await call();
            }
            catch (HttpRequestException exception)
            {
                throw new ApiException(0, $"Cannot reach the API at {http.BaseAddress}: {exception.Message}");
            }
            catch (ApiCallException exception)
            {
                var problem = Problem(exception.StatusCode, exception.Response);
                throw new ApiException(exception.StatusCode, exception.StatusCode == 401
                    ? problem + Environment.NewLine + "The API wants a valid token: give one with --token or EVENTREPLAY_TOKEN "
                      + "(on a machine running eng/run.sh, eng/eventreplay token --role operator --name YOU prints one)."
                    : problem);
            }
        }

        /// <summary>A problem-details answer as one readable message: title, detail, and each field's errors.</summary>
        private static string Problem(int status, string? text)
        {
            try
            {
                var problem = JsonDocument.Parse(text ?? "").RootElement;
                var lines = new List<string> { $"{status} {Text(problem, "title")}".TrimEnd() };
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
                return $"{status}{(string.IsNullOrEmpty(text) ? "" : ": " + text)}";
            }
        }

        private static string? Text(System.Text.Json.JsonElement element, string name) =>
            element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
                ? value.GetString()
                : null;
    }
}
