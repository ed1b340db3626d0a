using EventReplay.Monitor.Metrics;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace EventReplay.Monitor.Pages.Console;

public sealed class QueuesModel(MetricsStore metrics, TimeProvider clock) : PageModel
{
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(15);

    public IReadOnlyList<(DateTimeOffset At, QueueSample Queue)> Queues { get; private set; } = [];

    public IReadOnlyList<(DateTimeOffset At, LagSample Lag)> Lags { get; private set; } = [];

    public IReadOnlyDictionary<string, IReadOnlyList<double>> History { get; private set; } = new Dictionary<string, IReadOnlyList<double>>();

    public IReadOnlyDictionary<string, IReadOnlyList<double>> LagHistory { get; private set; } = new Dictionary<string, IReadOnlyList<double>>();

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        (Queues, Lags) = await metrics.CurrentAsync(now, cancellationToken);
        (History, LagHistory) = await metrics.HistoryAsync(now - Window, cancellationToken);
    }
}
