using Microsoft.AspNetCore.Mvc;
using Yarp.ReverseProxy.Forwarder;

namespace EventReplay.Gateway.Proxy;

public static class ProxyErrors
{
    /// <summary>
    /// When a backend cannot be reached or does not answer in time, YARP sets 502 or 504 with an empty body;
    /// this gives the client a problem document saying which, and when to retry. A service that is down (the request
    /// could not be sent to it at all: nothing listens, it is restarting) is a 503, as for any dependency that is down;
    /// one that broke off its answer a 502. A body the client could not send (see <see cref="BodyLimit"/>, which reads
    /// it first) is the client's 4xx, never a 5xx.
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
            ForwarderError.Request or ForwarderError.NoAvailableDestinations => new ProblemDetails
            {
                Status = StatusCodes.Status503ServiceUnavailable,
                Title = "The service is unavailable",
                Detail = $"The gateway could not reach the service behind {context.Request.Path} ({error.Error}).",
            },
            _ => new ProblemDetails
            {
                Status = StatusCodes.Status502BadGateway,
                Title = "The service broke off its answer",
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
