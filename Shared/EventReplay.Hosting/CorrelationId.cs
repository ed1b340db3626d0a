using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EventReplay.Hosting;

/// <summary>
/// Gives every request a correlation id: at the gateway one made from the trace id (which a client may carry in W3C
/// <c>traceparent</c>); behind it, the gateway's <c>X-Correlation-Id</c>. It is passed on to the services behind (the gateway forwards request headers), echoed in the
/// response, and put in the scope of every log line written for the request.
/// </summary>
public static class CorrelationId
{
    public const string Header = "X-Correlation-Id";

    /// <summary>
    /// The request's correlation id: the caller's when <paramref name="fromCaller"/> (a service, whose caller is the
    /// gateway) and it is sane, else made from the trace id. The gateway makes its own for every request: what a client
    /// sends in its place is replaced.
    /// </summary>
    public static WebApplication UseCorrelationId(this WebApplication app, bool fromCaller = true)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("EventReplay.Correlation");
        app.Use(async (context, next) =>
        {
            var given = context.Request.Headers[Header].ToString();
            var id = fromCaller && IsSane(given) ? given : Activity.Current?.TraceId.ToString() ?? context.TraceIdentifier;
            context.Request.Headers[Header] = id;
            // Set late and only once: behind the gateway, the service's own header comes back with its response.
            context.Response.OnStarting(() =>
            {
                context.Response.Headers.TryAdd(Header, id);
                return Task.CompletedTask;
            });
            Activity.Current?.SetTag("correlation.id", id);
            using (logger.BeginScope(new Dictionary<string, object> { ["CorrelationId"] = id }))
            {
                await next(context);
            }
        });
        return app;
    }

    private static bool IsSane(string value) =>
        value.Length is > 0 and <= 128 && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':');
}
