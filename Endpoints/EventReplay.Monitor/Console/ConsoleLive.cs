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
        app.MapGet("/console/live/endpoints", async (HttpContext http, EndpointStore store, TimeProvider clock) =>
        {
            http.Response.Headers.ContentType = "text/event-stream";
            http.Response.Headers.CacheControl = "no-cache";
            // The stream lives as long as the client stays (past the 4-s request deadline); each read has its own.
            var aborted = http.Features.Get<RequestDeadlineFeature>()?.Client ?? http.RequestAborted;
            string? sent = null;
            using var timer = new PeriodicTimer(Every, clock);
            try
            {
                do
                {
                    using var deadline = CancellationTokenSource.CreateLinkedTokenSource(aborted);
                    deadline.CancelAfter(RequestDeadline.Limit);
                    var now = clock.GetUtcNow();
                    string message;
                    try
                    {
                        var instances = await store.ListAsync(deadline.Token);
                        // The ages in the table change every time; statuses are what matter, so only they decide a send.
                        var state = string.Join(',', instances.Select(i =>
                            $"{i.InstanceId}:{i.StatusAt(now)}:{string.Join(';', i.Checks.Select(c => c.Status))}"));
                        message = state == sent
                            ? ": nothing new\n\n"
                            : Event("endpoints", ConsoleHtml.EndpointsTable(instances, now)) + Event("endpoint-counts", ConsoleHtml.EndpointCounts(instances, now));
                        sent = state;
                    }
                    catch (Exception exception) when (!aborted.IsCancellationRequested && DependencyFailure.IsDependencyDown(exception)
                                                      || exception is OperationCanceledException && !aborted.IsCancellationRequested)
                    {
                        message = ": the monitor's database does not answer; trying again\n\n";
                    }

                    await http.Response.WriteAsync(message, aborted);
                    await http.Response.Body.FlushAsync(aborted);
                }
                while (await timer.WaitForNextTickAsync(aborted));
            }
            catch (OperationCanceledException) when (aborted.IsCancellationRequested)
            {
                // the page was closed
            }
        }).ExcludeFromDescription();

        // The replays' table, every second: progress, rate and ETA move while replays run.
        app.MapGet("/console/live/replays", async (HttpContext http, ReplayApi replays, Microsoft.AspNetCore.Antiforgery.IAntiforgery antiforgery,
            TimeProvider clock) =>
        {
            var token = antiforgery.GetAndStoreTokens(http).RequestToken!;
            http.Response.Headers.ContentType = "text/event-stream";
            http.Response.Headers.CacheControl = "no-cache";
            var aborted = http.Features.Get<RequestDeadlineFeature>()?.Client ?? http.RequestAborted;
            string? sent = null;
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), clock);
            try
            {
                do
                {
                    string message;
                    try
                    {
                        var table = ReplayHtml.Table(await replays.ListAsync(aborted), token);
                        message = table == sent ? ": nothing new\n\n" : Event("replays", table);
                        sent = table;
                    }
                    catch (HttpRequestException)
                    {
                        message = ": the replay service does not answer; trying again\n\n";
                    }

                    await http.Response.WriteAsync(message, aborted);
                    await http.Response.Body.FlushAsync(aborted);
                }
                while (await timer.WaitForNextTickAsync(aborted));
            }
            catch (OperationCanceledException) when (aborted.IsCancellationRequested)
            {
                // the page was closed
            }
        }).ExcludeFromDescription();
        return app;
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
