using EventReplay.Hosting.Security;
using System.Text;
using System.Text.Json;
using EventReplay.Monitor.Console;
using EventReplay.Monitor.FailedMessages;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace EventReplay.Monitor.Pages.Console.FailedMessages;

/// <summary>One failed message: body, headers, history, edits; retry, edit and retry, archive, unarchive.</summary>
public sealed class FailedMessageDetailModel(FailedMessageStore store, FailedMessageRetrier retrier, IConfiguration configuration) : PageModel
{
    /// <summary>A <c>traceparent</c> header's trace in the dashboard of traces, when it is one and there is a dashboard.</summary>
    public string? TraceLink(string header, string value) =>
        header == "traceparent" && ConsoleHtml.TraceIdOf(value) is { } traceId ? ConsoleHtml.TraceLink(configuration, traceId) : null;

    [TempData]
    public string? Notice { get; set; }

    public FailedMessageDetail? Detail { get; private set; }

    public string Body { get; private set; } = "";

    public string BodyEncoding { get; private set; } = "utf-8";

    public async Task<IActionResult> OnGetAsync(Guid id, CancellationToken cancellationToken)
    {
        Detail = await store.DetailAsync(id, cancellationToken);
        if (Detail is null)
        {
            return NotFound();
        }

        var text = MessageShape.Utf8(Detail.Body);
        (Body, BodyEncoding) = text is null ? (Convert.ToBase64String(Detail.Body), "base64") : (Pretty(text), "utf-8");
        return Page();
    }

    private static string Pretty(string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            return JsonSerializer.Serialize(document.RootElement, new JsonSerializerOptions { WriteIndented = true });
        }
        catch (JsonException)
        {
            return text;
        }
    }

    public async Task<IActionResult> OnPostRetryAsync(Guid id, CancellationToken cancellationToken) =>
        await RetryAsync(id, edit: null, cancellationToken);

    public async Task<IActionResult> OnPostEditAndRetryAsync(Guid id, string? body, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(body))
        {
            Notice = "The new body is empty: nothing was sent.";
            return RedirectToPage(new { id });
        }

        var detail = await store.DetailAsync(id, cancellationToken);
        if (detail is null)
        {
            return NotFound();
        }

        if (detail.ContentType is null || detail.ContentType.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                using var parsed = JsonDocument.Parse(body);
                // Sent compact, as the system's messages are.
                body = JsonSerializer.Serialize(parsed.RootElement);
            }
            catch (JsonException exception)
            {
                Notice = $"The message is JSON and the new body is not ({exception.Message}): nothing was sent.";
                return RedirectToPage(new { id });
            }
        }

        return await RetryAsync(id, (Encoding.UTF8.GetBytes(body), null), cancellationToken);
    }

    private async Task<IActionResult> RetryAsync(Guid id, (byte[] Body, IReadOnlyDictionary<string, string>? Headers)? edit,
        CancellationToken cancellationToken)
    {
        var outcome = await retrier.RetryAsync(id, HttpContext.Actor(), edit, cancellationToken);
        if (outcome.Refusal == ClaimRefusal.NotFound)
        {
            return NotFound();
        }

        Notice = outcome.Refusal == ClaimRefusal.None
            ? $"{(edit is null ? "Retry" : "Edited message")} sent to {outcome.Sent!.Queue} (attempt {outcome.Sent.Attempt})."
            : $"Not retried: the message is {outcome.Status}.";
        return RedirectToPage(new { id });
    }

    public Task<IActionResult> OnPostArchiveAsync(Guid id, CancellationToken cancellationToken) => ArchiveAsync(id, archived: true, cancellationToken);

    public Task<IActionResult> OnPostUnarchiveAsync(Guid id, CancellationToken cancellationToken) => ArchiveAsync(id, archived: false, cancellationToken);

    private async Task<IActionResult> ArchiveAsync(Guid id, bool archived, CancellationToken cancellationToken)
    {
        var changed = await store.SetArchivedAsync(id, archived, HttpContext.Actor(), cancellationToken);
        if (changed is null)
        {
            return NotFound();
        }

        Notice = changed.Value ? (archived ? "Archived." : "Unarchived.") : "Not changed: the message is being retried or is resolved.";
        return RedirectToPage(new { id });
    }
}
