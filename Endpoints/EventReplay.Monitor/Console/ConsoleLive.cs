using System.Text;
using EventReplay.Hosting;
using EventReplay.Monitor.Endpoints;

namespace EventReplay.Monitor.Console;

/// <summary>
/// The console's live parts as server-sent events (<c>GET /console/live/endpoints</c>): every 2 s the endpoints' table
/// and counts as HTML when a status changed (else a comment, which keeps proxies from closing an idle stream), which the
/// page's htmx SSE extension swaps in.
/// </summary>
public static class ConsoleLive
{
    public static readonly TimeSpan Every = TimeSpan.FromSeconds(2);

    public static WebApplication MapConsoleLive(this WebApplication app)
    {
        app.MapGet("/console/live/endpoints", (HttpContext http, EndpointStore store, TimeProvider clock) =>
        {
            string? sent = null;
            return StreamAsync(http, clock, Every, async aborted =>
            {
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(aborted);
                deadline.CancelAfter(RequestDeadline.Limit);
                var now = clock.GetUtcNow();
                try
                {
                    var instances = await store.ListAsync(deadline.Token);
                    // The ages in the table change every time; statuses are what matter, so only they decide a send.
                    var state = string.Join(',', instances.Select(i =>
                        $"{i.InstanceId}:{i.StatusAt(now)}:{string.Join(';', i.Checks.Select(c => c.Status))}"));
                    var changed = state != sent;
                    sent = state;
                    return changed
                        ? Event("endpoints", ConsoleHtml.EndpointsTable(instances, now)) + Event("endpoint-counts", ConsoleHtml.EndpointCounts(instances, now))
                        : NothingNew;
                }
                catch (Exception exception) when (!aborted.IsCancellationRequested && DependencyFailure.IsDependencyDown(exception)
                                                  || exception is OperationCanceledException && !aborted.IsCancellationRequested)
                {
                    return ": the monitor's database does not answer; trying again\n\n";
                }
            });
        }).ExcludeFromDescription().RequireAuthorization(EventReplay.Security.Policies.Read);

        // The replays' table, every second: progress, rate and ETA move while replays run. ?running=true: only those not
        // yet ended (the dashboard's).
        app.MapGet("/console/live/replays", (HttpContext http, ReplayApi replays, Microsoft.AspNetCore.Antiforgery.IAntiforgery antiforgery,
            TimeProvider clock, bool? running) =>
        {
            var token = antiforgery.GetAndStoreTokens(http).RequestToken!;
            string? sent = null;
            return StreamAsync(http, clock, TimeSpan.FromSeconds(1), async aborted =>
            {
                if (await replays.TryListAsync(running == true, aborted) is not { } list)
                {
                    return ": the replay service does not answer; trying again\n\n";
                }

                var table = running == true ? ReplayHtml.Running(list, token) : ReplayHtml.Table(list, token);
                var changed = table != sent;
                sent = table;
                return changed ? Event("replays", table) : NothingNew;
            });
        }).ExcludeFromDescription().RequireAuthorization(EventReplay.Security.Policies.Read);
        return app;
    }

    // A comment: keeps proxies from closing a stream that has nothing new to say.
    private const string NothingNew = ": nothing new\n\n";

    /// <summary>
    /// An event stream that sends what <paramref name="next"/> says at once and then every <paramref name="every"/>, for
    /// as long as the client stays (past the request deadline: each read has its own).
    /// </summary>
    private static async Task StreamAsync(HttpContext http, TimeProvider clock, TimeSpan every, Func<CancellationToken, Task<string>> next)
    {
        http.Response.Headers.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        var aborted = http.Features.Get<RequestDeadlineFeature>()?.Client ?? http.RequestAborted;
        using var timer = new PeriodicTimer(every, clock);
        try
        {
            do
            {
                await http.Response.WriteAsync(await next(aborted), aborted);
                await http.Response.Body.FlushAsync(aborted);
            }
            while (await timer.WaitForNextTickAsync(aborted));
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // the page was closed
        }
    }

    private static string Event(string name, string html)
    {
        var text = new StringBuilder($"event: {name}\n");
        foreach (var line in html.Split('\n'))
        {
            text.Append("data: ").Append(line).Append('\n');
        }

        return text.Append('\n').ToString();
    }
}
