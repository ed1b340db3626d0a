namespace EventReplay.Hosting;

public static class Deadline
{
    /// <summary>Waits for a request's database work no longer than its deadline (see <see cref="RequestDeadline"/>).</summary>
    public static Task<T> Within<T>(Task<T> work, Microsoft.AspNetCore.Http.HttpContext context) =>
        Within(work, context.Features.Get<RequestDeadlineFeature>()?.Wait ?? context.RequestAborted);

    /// <summary>
    /// Waits for database work no longer than the request's token allows. A hung server can keep a driver call
    /// busy past its own timeouts (cancelling a query means talking to that same server), so the caller stops
    /// waiting and answers; the abandoned call ends on its own, and its failure is observed here.
    /// </summary>
    public static async Task<T> Within<T>(Task<T> work, CancellationToken token)
    {
        try
        {
            return await work.WaitAsync(token);
        }
        catch (OperationCanceledException) when (!work.IsCompleted)
        {
            _ = work.ContinueWith(abandoned => abandoned.Exception, CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            throw;
        }
    }
}
