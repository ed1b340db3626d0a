using System.Net.Sockets;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace EventReplay.Hosting;

/// <summary>
/// Turns exceptions that are not the client's fault into honest statuses: a dependency that is down is a 503 with
/// <c>Retry-After</c>, a request Kestrel refused keeps its own status. Anything else stays a 500.
/// </summary>
internal sealed class ProblemExceptionHandler(IProblemDetailsService problems, ILogger<ProblemExceptionHandler> logger)
    : IExceptionHandler
{
    public const int RetryAfterSeconds = 5;

    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        ProblemDetails problem;
        var deadline = httpContext.Features.Get<RequestDeadlineFeature>();
        if (deadline is { ClientAborted: true } && exception is OperationCanceledException)
        {
            // Nobody is listening any more; nothing to answer.
            httpContext.Response.StatusCode = StatusCodes.Status499ClientClosedRequest;
            return true;
        }

        if (exception is BadHttpRequestException badRequest)
        {
            problem = new ProblemDetails
            {
                Status = badRequest.StatusCode,
                Title = badRequest.StatusCode == StatusCodes.Status413PayloadTooLarge ? "Request body too large" : "Bad request",
                Detail = badRequest.Message,
            };
        }
        else if (DependencyFailure.IsDependencyDown(exception) || deadline is { Expired: true })
        {
            logger.LogWarning(exception, "Dependency unavailable for {Method} {Path}", httpContext.Request.Method, httpContext.Request.Path);
            httpContext.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            problem = new ProblemDetails
            {
                Status = StatusCodes.Status503ServiceUnavailable,
                Title = "A dependency is unavailable",
                // A commit may have been cut off after PostgreSQL applied it: do not promise that nothing changed.
                Detail = "The database did not answer in time. The request may or may not have been applied; "
                    + "retry with the same Idempotency-Key to apply it exactly once.",
            };
        }
        else
        {
            return false;
        }

        httpContext.Response.StatusCode = problem.Status!.Value;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            ProblemDetails = problem,
            Exception = exception,
        });
    }
}

public static class DependencyFailure
{
    /// <summary>True when the exception, or one it wraps, says a dependency could not be reached in time.</summary>
    public static bool IsDependencyDown(Exception exception)
    {
        for (Exception? current = exception; current is not null; current = current.InnerException)
        {
            switch (current)
            {
                case PostgresException postgres:
                    // Connection trouble (08), resources (53), shutdown or cancellation (57), system errors (58), and a
                    // server that stopped being the primary under us (25006, read-only: a failover or switchover).
                    return postgres.IsTransient || postgres.SqlState[..2] is "08" or "53" or "57" or "58"
                        || postgres.SqlState == PostgresErrorCodes.ReadOnlySqlTransaction;
                case NpgsqlException:
                case SocketException:
                case TimeoutException:
                case DependencyDownException:
                    return true;
            }
        }

        return false;
    }
}

/// <summary>A dependency did not do what was asked of it (a broker that did not take a message): answered 503 with Retry-After.</summary>
public sealed class DependencyDownException(string message, Exception? inner = null) : Exception(message, inner);
