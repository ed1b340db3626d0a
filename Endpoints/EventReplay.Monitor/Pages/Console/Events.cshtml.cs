using EventReplay.Monitor.Console;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace EventReplay.Monitor.Pages.Console;

/// <summary>Events: a stream's events, and for one of them where it went (the flow view), each trace id linked to its trace.</summary>
public sealed class EventsModel(EventFlow flow, IConfiguration configuration) : PageModel
{
    [BindProperty(SupportsGet = true)]
    public string? Stream { get; set; }

    [BindProperty(SupportsGet = true)]
    public long? Version { get; set; }

    public IReadOnlyList<StreamEvent> Events { get; private set; } = [];

    public StreamEvent? Selected { get; private set; }

    public IReadOnlyList<FlowStep> Steps { get; private set; } = [];

    /// <summary>The trace in the dashboard of traces (<c>Monitoring:TracesUrl</c>, e.g. the Aspire dashboard's), when there is one.</summary>
    public string? TraceLink(string traceId) => ConsoleHtml.TraceLink(configuration, traceId);

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        Stream = Stream?.Trim().Replace("\0", "", StringComparison.Ordinal);
        if (string.IsNullOrEmpty(Stream))
        {
            Stream = null;
            return;
        }

        Events = await flow.StreamAsync(Stream, cancellationToken);
        Selected = Version is { } version ? Events.FirstOrDefault(e => e.Event.Version == version) : null;
        if (Selected is not null)
        {
            Steps = await flow.StepsAsync(Selected, cancellationToken);
        }
    }
}
