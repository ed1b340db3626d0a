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
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(clientAborted);
        deadline.CancelAfter(Limit);
        var feature = new RequestDeadlineFeature(deadline.Token, clientAborted);
        context.Features.Set(feature);
        context.RequestAborted = deadline.Token;
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

public sealed class RequestDeadlineFeature(CancellationToken deadline, CancellationToken clientAborted)
{
    public bool Expired => deadline.IsCancellationRequested && !clientAborted.IsCancellationRequested;

    public bool ClientAborted => clientAborted.IsCancellationRequested;
}
