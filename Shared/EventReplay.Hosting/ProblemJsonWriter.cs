using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;

namespace EventReplay.Hosting;

/// <summary>
/// Writes problem details whatever the request's <c>Accept</c> header asks for, after ASP.NET Core's own writer, which
/// writes only for clients that accept JSON. Without it an error answered to <c>Accept: text/html</c> had no problem
/// body: the gateway's 413 and 502 became a 500 with an empty body, a wrong method a <c>text/plain</c> 405. The API
/// speaks nothing but JSON, so a client gets the problem rather than nothing.
/// </summary>
internal sealed class ProblemJsonWriter(IOptions<ProblemDetailsOptions> problemOptions, IOptions<JsonOptions> jsonOptions)
    : IProblemDetailsWriter
{
    public bool CanWrite(ProblemDetailsContext context) => true;

    public ValueTask WriteAsync(ProblemDetailsContext context)
    {
        var problem = context.ProblemDetails;
        problem.Status ??= context.HttpContext.Response.StatusCode;
        problem.Title ??= ReasonPhrases.GetReasonPhrase(problem.Status.Value);
        problemOptions.Value.CustomizeProblemDetails?.Invoke(context);
        return new ValueTask(context.HttpContext.Response.WriteAsJsonAsync(problem, problem.GetType(), jsonOptions.Value.SerializerOptions,
            "application/problem+json"));
    }
}
