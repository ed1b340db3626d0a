using System.Collections.Concurrent;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace EventReplay.Cli;

/// <summary>Events per second and ETA as the replay service measures them (not the bar's own sampling).</summary>
public sealed class RateColumn : ProgressColumn
{
    public static readonly ConcurrentDictionary<int, (double EventsPerSecond, double? EtaSeconds)> Rates = new();

    public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
        Rates.TryGetValue(task.Id, out var rate)
            ? new Text($"{rate.EventsPerSecond:N0} events/s, ETA {(rate.EtaSeconds is { } eta ? TimeSpan.FromSeconds(Math.Round(eta)).ToString() : "-")}")
            : new Text("");
}
