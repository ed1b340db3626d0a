using System.Globalization;
using System.Text.Json;
using EventReplay.Monitor.Console;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace EventReplay.Monitor.Pages.Console;

/// <summary>Replays: the list (live progress, rate, ETA; pause, resume, cancel) and a start form with a dry-run preview.</summary>
public sealed class ReplaysModel(ReplayApi replays) : PageModel
{
    [TempData]
    public string? Notice { get; set; }

    public string? Preview { get; private set; }

    public IReadOnlyList<ReplayItem>? Replays { get; private set; }

    [BindProperty]
    public string? Target { get; set; }

    [BindProperty]
    public string? Mode { get; set; }

    [BindProperty]
    public long? FromPosition { get; set; }

    [BindProperty]
    public long? ToPosition { get; set; }

    [BindProperty]
    public string? StreamIds { get; set; }

    [BindProperty]
    public int? BatchSize { get; set; }

    [BindProperty]
    public int? MaxEventsPerSecond { get; set; }

    [BindProperty]
    public string? Reason { get; set; }

    public async Task OnGetAsync(CancellationToken cancellationToken) => await LoadAsync(cancellationToken);

    // Null: shown as "does not answer".
    private async Task LoadAsync(CancellationToken cancellationToken) => Replays = await replays.TryListAsync(running: false, cancellationToken);

    public async Task<IActionResult> OnPostStartAsync(bool dryRun, CancellationToken cancellationToken)
    {
        var request = new Dictionary<string, object?>
        {
            ["target"] = Target, ["mode"] = Mode, ["fromPosition"] = FromPosition, ["toPosition"] = ToPosition,
            ["streamIds"] = StreamIds is { Length: > 0 } ids ? ids.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : null,
            ["batchSize"] = BatchSize, ["maxEventsPerSecond"] = MaxEventsPerSecond, ["reason"] = Reason is { Length: > 0 } ? Reason : null,
        };
        var (status, body) = await replays.StartAsync(request, dryRun, cancellationToken);
        if (dryRun)
        {
            // The form stays filled in, with what the replay would send.
            Preview = status == 200
                ? string.Create(CultureInfo.InvariantCulture,
                    $"Dry run: {body.GetProperty("eventsTotal").GetInt64()} events in {body.GetProperty("batches").GetInt64()} batches, from position {body.GetProperty("fromPosition").GetInt64()} to {body.GetProperty("toPosition").GetInt64()}. Nothing was sent.")
                : ReplayApi.Problem(body);
            await LoadAsync(cancellationToken);
            return Page();
        }

        Notice = status == 202 && body.ValueKind == JsonValueKind.Object && body.TryGetProperty("replayId", out var id)
            ? $"Replay {id.GetString()} started."
            : ReplayApi.Problem(body);
        return RedirectToPage();
    }

    public async Task<IActionResult> OnPostControlAsync(string replayId, string action, string? returnTo, CancellationToken cancellationToken)
    {
        if (action is not ("pause" or "resume" or "cancel"))
        {
            return BadRequest();
        }

        var (status, body) = await replays.ControlAsync(replayId, action, cancellationToken);
        Notice = status == 202 ? $"Replay {replayId}: {action} asked." : ReplayApi.Problem(body);
        // Back to the dashboard when the action came from there; never to another site.
        return returnTo == "/console/" ? LocalRedirect(returnTo) : RedirectToPage();
    }
}
