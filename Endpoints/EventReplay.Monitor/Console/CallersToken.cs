using EventReplay.Hosting.Security;

namespace EventReplay.Monitor.Console;

/// <summary>
/// Sends the console user's own token with the console's calls to the replay service: the service checks that caller
/// as it checks anyone (an operator's action, a reader's look), and the audit names them.
/// </summary>
public sealed class CallersToken(IHttpContextAccessor accessor) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (accessor.HttpContext is { } http && await http.BearerTokenAsync() is { } token)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }

        return await base.SendAsync(request, cancellationToken);
    }
}
