using Microsoft.AspNetCore.Mvc;
using Yarp.ReverseProxy.Forwarder;

namespace EventReplay.Gateway.Proxy;

public static class ProxyErrors
{
    /// <summary>
    /// When a backend cannot be reached or does not answer in time, YARP sets 502 or 504 with an empty body;
    /// this gives the client a problem document saying which, and when to retry. A body the client could not send
    /// (see <see cref="BodyLimit"/>, which reads it first) is the client's 4xx, never a 502.
    /// </summary>
    public static async Task AsProblemDetailsAsync(HttpContext context, Func<Task> next)
    {
        await next();
        var error = context.GetForwarderErrorFeature();
        if (error is null || context.Response.HasStarted || error.Error is ForwarderError.RequestCanceled)
        {
            return;
        }

        var problem = error.Error switch
        {
            // Reading the client's body failed: the client's fault (a body too large, malformed or cut off), not the service's.
            ForwarderError.RequestBodyClient => new ProblemDetails
            {
                Status = (error.Exception as BadHttpRequestException)?.StatusCode ?? StatusCodes.Status400BadRequest,
                Title = "The request body could not be read",
                Detail = error.Exception?.Message,
            },
            ForwarderError.RequestTimedOut => new ProblemDetails
            {
                Status = StatusCodes.Status504GatewayTimeout,
                Title = "The service did not answer in time",
                Detail = $"The gateway could not complete the request to the service behind {context.Request.Path} ({error.Error}).",
            },
            _ => new ProblemDetails
            {
                Status = StatusCodes.Status502BadGateway,
                Title = "The service is unavailable",
                Detail = $"The gateway could not complete the request to the service behind {context.Request.Path} ({error.Error}).",
            },
        };
        context.Response.StatusCode = problem.Status!.Value;
        if (problem.Status >= 500)
        {
            context.Response.Headers.RetryAfter = "1";
        }

        var problems = context.RequestServices.GetRequiredService<IProblemDetailsService>();
        await problems.WriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = problem });
    }
}
