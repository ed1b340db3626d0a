using EventReplay.Security;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Filters;

namespace EventReplay.Monitor.Console;

/// <summary>
/// The console's pages are for readers; what their forms do (retry, archive, start or control a replay) is for
/// operators: every handler of a method other than GET checks <see cref="Policies.Operate"/> (a page's handlers cannot
/// carry policies of their own), except on pages anyone may open (sign-in).
/// </summary>
public sealed class OperatorActions(IAuthorizationService authorization) : IAsyncPageFilter
{
    public Task OnPageHandlerSelectionAsync(PageHandlerSelectedContext context) => Task.CompletedTask;

    public async Task OnPageHandlerExecutionAsync(PageHandlerExecutingContext context, PageHandlerExecutionDelegate next)
    {
        var http = context.HttpContext;
        if (!HttpMethods.IsGet(http.Request.Method) && !HttpMethods.IsHead(http.Request.Method)
            && !context.ActionDescriptor.EndpointMetadata.OfType<IAllowAnonymous>().Any()
            && !(await authorization.AuthorizeAsync(http.User, Policies.Operate)).Succeeded)
        {
            context.Result = new ForbidResult();
            return;
        }

        await next();
    }
}
