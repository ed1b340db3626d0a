using EventReplay.Monitor.Console;
using EventReplay.Monitor.Endpoints;
using EventReplay.Monitor.FailedMessages;
using EventReplay.Monitor.Metrics;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace EventReplay.Monitor.Pages.Console;

/// <summary>The dashboard: endpoint health (live), failed messages by group, consumers' lag, running replays (live).</summary>
public sealed class DashboardModel(EndpointStore endpoints, FailedMessageStore failures, MetricsStore metrics, ReplayApi replays, TimeProvider clock)
    : PageModel
{
    /// <summary>What a replay action taken from the dashboard (pause, resume, cancel) answered.</summary>
    [TempData]
    public string? Notice { get; set; }

    public DateTimeOffset Now { get; private set; }

    public IReadOnlyList<EndpointInstance> Instances { get; private set; } = [];

    public IReadOnlyList<FailureGroupSummary> Groups { get; private set; } = [];

    public long Unresolved => Groups.Sum(g => g.Unresolved);

    public IReadOnlyList<(DateTimeOffset At, LagSample Lag)> Lags { get; private set; } = [];

    /// <summary>The replays running, requested or paused among the newest; null when the replay service does not answer.</summary>
    public IReadOnlyList<ReplayItem>? RunningReplays { get; private set; }

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        Now = clock.GetUtcNow();
        Instances = await endpoints.ListAsync(cancellationToken);
        Groups = await failures.GroupsAsync(cancellationToken);
        Lags = (await metrics.CurrentAsync(Now, cancellationToken)).Lags;
        RunningReplays = await replays.TryListAsync(running: true, cancellationToken);
    }
}
