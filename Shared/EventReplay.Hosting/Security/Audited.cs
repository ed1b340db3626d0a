using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace EventReplay.Hosting.Security;

/// <summary>
/// An endpoint whose successful answers are operator actions for the audit trail: after a 2xx, one entry with the
/// caller, <paramref name="action"/> and the route value <paramref name="target"/> names (else the request path).
/// </summary>
public static class Audited
{
    public static TBuilder Audit<TBuilder>(this TBuilder builder, string action, string? target = null) where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(async (context, next) =>
        {
            var result = await next(context);
            var status = result is IStatusCodeHttpResult { StatusCode: { } code } ? code : context.HttpContext.Response.StatusCode;
            if (status is >= 200 and < 300)
            {
                var http = context.HttpContext;
                var subject = target is not null && http.Request.RouteValues.TryGetValue(target, out var value) ? value?.ToString() : null;
                await http.RequestServices.GetRequiredService<AuditLog>().RecordAsync(
                    AuditEntry.Of(http, action, subject ?? http.Request.Path.Value ?? ""), http.RequestAborted);
            }

            return result;
        });
}
