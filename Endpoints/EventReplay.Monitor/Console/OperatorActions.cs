using EventReplay.Hosting.Security;
using EventReplay.Security;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Filters;

namespace EventReplay.Monitor.Console;

/// <summary>
/// The console's pages are for readers; what their forms do (retry, archive, start or control a replay) is for
/// operators: every handler of a method other than GET checks <see cref="Policies.Operate"/> (a page's handlers cannot
/// carry policies of their own), except on pages anyone may open (sign-in). A handler that completed goes to the audit
/// trail as <c>console.{page}.{handler}</c> on the failed message, group or page it acted on, except the replay forms:
/// the replay service, called with the user's own token, audits those itself.
/// </summary>
public sealed class OperatorActions(IAuthorizationService authorization, AuditLog audit) : IAsyncPageFilter
{
    public Task OnPageHandlerSelectionAsync(PageHandlerSelectedContext context) => Task.CompletedTask;

    public async Task OnPageHandlerExecutionAsync(PageHandlerExecutingContext context, PageHandlerExecutionDelegate next)
    {
        var http = context.HttpContext;
        if (HttpMethods.IsGet(http.Request.Method) || HttpMethods.IsHead(http.Request.Method)
            || context.ActionDescriptor.EndpointMetadata.OfType<IAllowAnonymous>().Any())
        {
            await next();
            return;
        }

        if (!(await authorization.AuthorizeAsync(http.User, Policies.Operate)).Succeeded)
        {
            context.Result = new ForbidResult();
            return;
        }

        var executed = await next();
        var page = context.ActionDescriptor.ViewEnginePath;
        if (executed.Exception is null && page != "/Console/Replays" && context.HandlerMethod?.Name is { } handler)
        {
            var target = http.Request.RouteValues.TryGetValue("id", out var id) && id is not null ? id.ToString()!
                : http.Request.HasFormContentType && http.Request.Form["groupId"].FirstOrDefault() is { Length: > 0 } group ? $"group {group}"
                : page;
            var name = page["/Console/".Length..].Replace('/', '.').ToLowerInvariant();
            await audit.RecordAsync(AuditEntry.Of(http, $"console.{name}.{handler.ToLowerInvariant()}", target), http.RequestAborted);
        }
    }
}
