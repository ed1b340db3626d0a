using EventReplay.Hosting;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;

namespace EventReplay.Gateway.Proxy;

/// <summary>
/// Holds every route to the services' body limit (<see cref="ServiceDefaults.MaxRequestBodyBytes"/>) before anything is
/// forwarded: a body that announces more, or turns out to be more, is a 413 problem from the gateway and the service
/// sees none of it. Streamed through, an oversized body failed halfway (YARP reports the client's read error, which
/// became a 502) and could reach a service that answers before reading its body (close, pause), so a body within the
/// limit is read whole first (at most 64 KiB) and forwarded with its length.
/// </summary>
public static class BodyLimit
{
    /// <summary>
    /// How much of a refused body the server still reads (and throws away) after the 413: a client that sends its whole
    /// body before reading the answer (as .NET's HttpClient does) gets the 413 instead of a connection reset.
    /// </summary>
    public const long DrainBytes = 16 * 1024 * 1024;

    public static async Task WithinLimitAsync(HttpContext context, Func<Task> next)
    {
        var request = context.Request;
        // The limit is counted here, on the body's bytes: Kestrel's own counts a chunked body's framing too (a chunked
        // body of exactly the limit would be refused), and it must let a refused body be drained.
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } serverLimit)
        {
            serverLimit.MaxRequestBodySize = DrainBytes;
        }

        if (request.ContentLength > ServiceDefaults.MaxRequestBodyBytes)
        {
            await TooLargeAsync(context);
            return;
        }

        if (context.Features.Get<IHttpRequestBodyDetectionFeature>() is { CanHaveBody: false } || request.ContentLength == 0)
        {
            await next();
            return;
        }

        byte[]? body;
        try
        {
            body = await ReadWithinLimitAsync(request.Body, context.RequestAborted);
        }
        catch (BadHttpRequestException exception)
        {
            // A body past what the server reads at all, or a malformed chunked body.
            if (exception.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                await TooLargeAsync(context);
            }
            else
            {
                // 400 for a malformed chunked body, 408 for one that comes too slowly (Kestrel's minimum data rate).
                await WriteAsync(context, exception.StatusCode, ReasonPhrases.GetReasonPhrase(exception.StatusCode), exception.Message);
            }

            return;
        }
        catch (Exception exception) when (exception is IOException or OperationCanceledException
                                          && context.RequestAborted.IsCancellationRequested)
        {
            return; // the client went away: nobody to answer
        }

        if (body is null)
        {
            await TooLargeAsync(context);
            return;
        }

        request.Body = new MemoryStream(body, writable: false);
        request.Headers.Remove(HeaderNames.TransferEncoding);
        request.ContentLength = body.Length;
        await next();
    }

    /// <summary>The whole body, or null once it is past the limit.</summary>
    private static async Task<byte[]?> ReadWithinLimitAsync(Stream body, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > ServiceDefaults.MaxRequestBodyBytes)
            {
                return null;
            }
        }

        return buffer.ToArray();
    }

    private static Task TooLargeAsync(HttpContext context) =>
        WriteAsync(context, StatusCodes.Status413PayloadTooLarge, "Request body too large",
            $"The request body must be at most {ServiceDefaults.MaxRequestBodyBytes / 1024} KiB.");

    private static async Task WriteAsync(HttpContext context, int status, string title, string detail)
    {
        context.Response.StatusCode = status;
        var problems = context.RequestServices.GetRequiredService<IProblemDetailsService>();
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = new ProblemDetails { Status = status, Title = title, Detail = detail },
        });
    }
}
