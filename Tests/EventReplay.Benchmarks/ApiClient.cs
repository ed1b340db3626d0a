using System.Net.Http.Headers;
using EventReplay.Security;

namespace EventReplay.Benchmarks;

/// <summary>
/// A client of the public API with a token: <c>EVENTREPLAY_TOKEN</c>, else one of the repository's local signing key
/// with every role (as <c>eng/eventreplay token</c> mints them), valid for the longest run.
/// </summary>
public static class ApiClient
{
    private static readonly Lazy<string?> Token = new(() =>
        LocalTokens.ForTool(Environment.GetEnvironmentVariable("EVENTREPLAY_TOKEN"), Roles.All, TimeSpan.FromHours(24)));

    public static HttpClient Create(Uri api, HttpMessageHandler? handler = null)
    {
        var http = handler is null ? new HttpClient() : new HttpClient(handler);
        http.BaseAddress = api;
        http.Timeout = TimeSpan.FromSeconds(30);
        if (Token.Value is { } token)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return http;
    }
}
