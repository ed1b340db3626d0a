using EventReplay.Hosting.Security;
using System.Globalization;
using EventReplay.Monitor.Console;
using EventReplay.Monitor.FailedMessages;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace EventReplay.Monitor.Pages.Console.FailedMessages;

/// <summary>Failed messages: the groups (retry, archive, unarchive all of one), then the messages with search and filters.</summary>
public sealed class FailedMessagesModel(FailedMessageStore store, RetryJobStore jobs, RetryJobWorker worker) : PageModel
{
    [BindProperty(SupportsGet = true)]
    public string? Q { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Status { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Queue { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? MessageType { get; set; }

    /// <summary>Failed at or after (the form's local date and time, taken as UTC).</summary>
    [BindProperty(SupportsGet = true)]
    public DateTime? From { get; set; }

    /// <summary>Failed before.</summary>
    [BindProperty(SupportsGet = true)]
    public DateTime? To { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? GroupId { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? After { get; set; }

    [BindProperty(SupportsGet = true, Name = "job")]
    public Guid? JobId { get; set; }

    [TempData]
    public string? Message { get; set; }

    public RetryJob? Job { get; private set; }

    public IReadOnlyList<FailureGroupSummary> Groups { get; private set; } = [];

    public IReadOnlyList<FailedMessageSummary> Items { get; private set; } = [];

    public string? Next { get; private set; }

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        Groups = await store.GroupsAsync(cancellationToken);
        var statuses = Status is { Length: > 0 } status && FailedMessageStatus.All.Contains(status) ? new[] { status } : [];
        var after = After is { } cursor ? FailedMessageCursor.Parse(cursor) : null;
        var (items, next) = await store.ListAsync(new FailedMessageQuery(statuses, Q is { Length: > 200 } ? Q[..200] : Q, Queue,
            MessageType is { Length: > 0 } ? MessageType : null, GroupId, Utc(From), Utc(To), 50, after), cancellationToken);
        Items = items;
        Next = next is { } page ? FailedMessageCursor.Format(page) : null;
        Job = JobId is { } jobId ? await jobs.GetAsync(jobId, cancellationToken) : null;
    }

    /// <summary>The next page's address: the same filters, after the last message shown (a cursor needs no escaping).</summary>
    public string OlderLink(string next)
    {
        var filters = new Dictionary<string, string?>
        {
            ["q"] = Q, ["status"] = Status, ["queue"] = Queue, ["messageType"] = MessageType, ["groupId"] = GroupId,
            ["from"] = From?.ToString("s", CultureInfo.InvariantCulture), ["to"] = To?.ToString("s", CultureInfo.InvariantCulture),
        };
        var query = QueryString.Create(filters.Where(filter => filter.Value is { Length: > 0 }));
        return (query.HasValue ? query + "&" : "?") + "after=" + next;
    }

    private static DateTimeOffset? Utc(DateTime? time) => time is { } value ? new DateTimeOffset(DateTime.SpecifyKind(value, DateTimeKind.Utc)) : null;

    /// <summary>The progress of a bulk retry, polled by the page while it runs.</summary>
    public async Task<IActionResult> OnGetJobAsync(Guid job, CancellationToken cancellationToken) =>
        await jobs.GetAsync(job, cancellationToken) is { } found
            ? Content($"<div class=\"notice\" id=\"job\" hx-get=\"/console/failed-messages?handler=Job&amp;job={found.Id}\" "
                + $"hx-trigger=\"{(found.FinishedAt is null ? "every 1s" : "none")}\" hx-swap=\"outerHTML\">{JobHtml(found)}</div>", "text/html")
            : NotFound();

    public static string JobHtml(RetryJob job) =>
        $"<progress max=\"{Math.Max(1, job.Total)}\" value=\"{job.Sent + job.Skipped}\"></progress> Bulk retry of {ConsoleHtml.E(job.Selection)}: "
        + $"<span data-job-status=\"{job.Status}\">{job.Status}</span>, {job.Sent} of {job.Total} sent, {job.Skipped} skipped";

    public async Task<IActionResult> OnPostRetryGroupAsync(string groupId, CancellationToken cancellationToken)
    {
        if (!await store.GroupExistsAsync(groupId, cancellationToken))
        {
            return NotFound();
        }

        var job = await jobs.CreateForGroupAsync(groupId, Actor, cancellationToken);
        worker.Wake();
        return RedirectToPage(new { job = job.Id, groupId });
    }

    public Task<IActionResult> OnPostArchiveGroupAsync(string groupId, CancellationToken cancellationToken) =>
        ArchiveGroupAsync(groupId, archived: true, cancellationToken);

    public Task<IActionResult> OnPostUnarchiveGroupAsync(string groupId, CancellationToken cancellationToken) =>
        ArchiveGroupAsync(groupId, archived: false, cancellationToken);

    private async Task<IActionResult> ArchiveGroupAsync(string groupId, bool archived, CancellationToken cancellationToken)
    {
        var changed = await store.SetGroupArchivedAsync(groupId, archived, Actor, cancellationToken);
        Message = $"{changed} message(s) {(archived ? "archived" : "unarchived")}.";
        return RedirectToPage(new { groupId, status = archived ? FailedMessageStatus.Archived : null });
    }

    private string Actor => HttpContext.Actor();
}
