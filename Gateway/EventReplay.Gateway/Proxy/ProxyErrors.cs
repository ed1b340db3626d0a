using Microsoft.AspNetCore.Mvc;
using Yarp.ReverseProxy.Forwarder;

namespace EventReplay.Gateway.Proxy;

public static class ProxyErrors
{
    /// <summary>
    /// When a backend cannot be reached or does not answer in time, YARP sets 502 or 504 with an empty body;
    /// this gives the client a problem document saying which, and when to retry.
    /// </summary>
    public static async Task AsProblemDetailsAsync(HttpContext context, Func<Task> next)
    {
        await next();
        var error = context.GetForwarderErrorFeature();
        if (error is null || context.Response.HasStarted || error.Error is ForwarderError.RequestCanceled)
        {
            return;
        }

        var timedOut = error.Error is ForwarderError.RequestTimedOut;
        var problem = new ProblemDetails
        {
            Status = timedOut ? StatusCodes.Status504GatewayTimeout : StatusCodes.Status502BadGateway,
            Title = timedOut ? "The service did not answer in time" : "The service is unavailable",
            Detail = $"The gateway could not complete the request to the service behind {context.Request.Path} ({error.Error}).",
        };
        context.Response.StatusCode = problem.Status.Value;
        context.Response.Headers.RetryAfter = "1";
        var problems = context.RequestServices.GetRequiredService<IProblemDetailsService>();
        await problems.WriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = problem });
    }
}
