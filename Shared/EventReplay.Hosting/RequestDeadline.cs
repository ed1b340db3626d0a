using Microsoft.AspNetCore.Http;

namespace EventReplay.Hosting;

/// <summary>
/// Bounds every request: past the deadline its cancellation token fires, database calls stop waiting and the
/// client gets a 503 instead of a hang, whatever the dependency is doing (refusing, hung, or slow).
/// </summary>
public sealed class RequestDeadline(RequestDelegate next)
{
    public static readonly TimeSpan Limit = TimeSpan.FromSeconds(4);

    public async Task InvokeAsync(HttpContext context)
    {
        var clientAborted = context.RequestAborted;
        // Two timers: the driver's cancellation of the work can block its token's callbacks for a while (it has to
        // reach the server to cancel a query), so the caller waits on a token of its own.
        using var work = CancellationTokenSource.CreateLinkedTokenSource(clientAborted);
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(clientAborted);
        work.CancelAfter(Limit);
        wait.CancelAfter(Limit);
        context.Features.Set(new RequestDeadlineFeature(work.Token, wait.Token, clientAborted));
        context.RequestAborted = work.Token;
        try
        {
            await next(context);
        }
        finally
        {
            context.RequestAborted = clientAborted;
        }
    }
}

public sealed class RequestDeadlineFeature(CancellationToken work, CancellationToken wait, CancellationToken clientAborted)
{
    /// <summary>The token to stop waiting on; it fires at the deadline independently of the work's token.</summary>
    public CancellationToken Wait => wait;

    public bool Expired => (work.IsCancellationRequested || wait.IsCancellationRequested) && !clientAborted.IsCancellationRequested;

    public bool ClientAborted => clientAborted.IsCancellationRequested;

    /// <summary>The client's own token, for a response that is meant to outlive the deadline (a stream of server-sent events).</summary>
    public CancellationToken Client => clientAborted;
}
