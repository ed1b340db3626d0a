using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using EventReplay.Monitor.Endpoints;

namespace EventReplay.Monitor.Console;

/// <summary>The console's pages, in the order of its navigation.</summary>
public static class ConsoleNavigation
{
    public static readonly IReadOnlyList<(string Href, string Name)> Pages =
    [
        ("/console/", "Dashboard"),
        ("/console/endpoints", "Endpoints"),
        ("/console/failed-messages", "Failed messages"),
        ("/console/queues", "Queues"),
        ("/console/replays", "Replays"),
        ("/console/events", "Events"),
    ];
}

/// <summary>
/// HTML fragments the pages show and the live stream sends again as they change (server-sent events): each is the
/// same markup either way, so a page reads the same with JavaScript off (it then shows the state at its load).
/// </summary>
public static class ConsoleHtml
{
    private static readonly HtmlEncoder Html = HtmlEncoder.Default;

    /// <summary>Every instance heard from in the last day, with its status and checks.</summary>
    public static string EndpointsTable(IReadOnlyList<EndpointInstance> instances, DateTimeOffset now)
    {
        var html = new StringBuilder("<table id=\"endpoints-table\"><thead><tr><th>Endpoint</th><th>Status</th><th>Host</th><th>Pid</th>"
            + "<th>Version</th><th>Started</th><th>Last seen</th><th>Checks</th></tr></thead><tbody>");
        foreach (var instance in instances.OrderBy(i => i.Endpoint, StringComparer.Ordinal).ThenByDescending(i => i.StartedAt))
        {
            var status = instance.StatusAt(now);
            html.Append(CultureInfo.InvariantCulture, $"<tr data-endpoint=\"{E(instance.Endpoint)}\" data-pid=\"{instance.Pid}\" data-status=\"{status}\">")
                .Append(CultureInfo.InvariantCulture, $"<td>{E(instance.Endpoint)}</td><td class=\"status-{status}\">{status}</td>")
                .Append(CultureInfo.InvariantCulture, $"<td>{E(instance.Host)}</td><td>{instance.Pid}</td><td class=\"muted\">{E(Short(instance.Version))}</td>")
                .Append(CultureInfo.InvariantCulture, $"<td>{Time(instance.StartedAt)}</td><td>{Ago(now - instance.LastSeenAt)}</td><td>");
            foreach (var check in instance.Checks)
            {
                html.Append(CultureInfo.InvariantCulture,
                    $"<span class=\"status-{E(check.Status)}\" title=\"{E(check.Detail ?? "")}\">{E(check.Name)}</span> ");
            }

            html.Append("</td></tr>");
        }

        return html.Append("</tbody></table>").ToString();
    }

    /// <summary>Counts of instances by status, for the dashboard's cards.</summary>
    public static string EndpointCounts(IReadOnlyList<EndpointInstance> instances, DateTimeOffset now)
    {
        var statuses = instances.GroupBy(i => i.StatusAt(now)).ToDictionary(g => g.Key, g => g.Count());
        return $"<span class=\"figure status-alive\" data-alive=\"{statuses.GetValueOrDefault(EndpointStatus.Alive)}\">"
            + $"{statuses.GetValueOrDefault(EndpointStatus.Alive)}</span> alive · "
            + $"<span class=\"{(statuses.GetValueOrDefault(EndpointStatus.Missing) > 0 ? "status-missing" : "muted")}\" data-missing=\"{statuses.GetValueOrDefault(EndpointStatus.Missing)}\">"
            + $"{statuses.GetValueOrDefault(EndpointStatus.Missing)} missing</span> · "
            + $"<span class=\"status-stopped\">{statuses.GetValueOrDefault(EndpointStatus.Stopped)} stopped</span>";
    }

    /// <summary>An inline SVG line of the values, oldest first, scaled to its highest.</summary>
    public static string Sparkline(IReadOnlyList<double> values, int width = 160, int height = 28)
    {
        if (values.Count == 0)
        {
            return "<span class=\"muted\">no samples</span>";
        }

        var max = Math.Max(1, values.Max());
        var step = values.Count == 1 ? 0 : (double)width / (values.Count - 1);
        var points = string.Join(' ', values.Select((value, i) =>
            string.Create(CultureInfo.InvariantCulture, $"{i * step:0.#},{height - 2 - (value / max * (height - 4)):0.#}")));
        return $"<svg class=\"spark\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" "
            + $"aria-label=\"last {values.Count} samples, highest {max.ToString("0.#", CultureInfo.InvariantCulture)}\"><polyline points=\"{points}\"/></svg>";
    }

    public static string E(string text) => Html.Encode(text);

    /// <summary>The trace in the dashboard of traces (<c>Monitoring:TracesUrl</c>, e.g. the Aspire dashboard's), when there is one.</summary>
    public static string? TraceLink(IConfiguration configuration, string traceId) =>
        configuration["Monitoring:TracesUrl"] is { Length: > 0 } traces ? $"{traces.TrimEnd('/')}/traces/detail/{traceId}" : null;

    /// <summary>The trace id of a W3C <c>traceparent</c> value (<c>00-{trace id}-{span id}-{flags}</c>), or null.</summary>
    public static string? TraceIdOf(string traceparent) =>
        traceparent.Split('-') is [_, { Length: 32 } traceId, _, _] && traceId.All(char.IsAsciiHexDigitLower) ? traceId : null;

    public static string Time(DateTimeOffset time) => time.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);

    public static string Ago(TimeSpan age) =>
        age.TotalSeconds < 90 ? $"{Math.Max(0, age.TotalSeconds):0} s ago"
        : age.TotalMinutes < 90 ? $"{age.TotalMinutes:0} min ago"
        : $"{age.TotalHours:0} h ago";

    private static string Short(string version) => version.Length > 20 ? version[..20] + "…" : version;
}

/// <summary>The replays' table, shown by the page and sent again by its live stream while replays run.</summary>
public static class ReplayHtml
{
    /// <summary>The dashboard's part: the table of replays not yet ended, or a line saying there are none.</summary>
    public static string Running(IReadOnlyList<ReplayItem> replays, string token) =>
        $"<p class=\"muted\" id=\"running-count\" data-count=\"{replays.Count}\">"
        + (replays.Count == 0 ? "No replay is running.</p>" : $"{replays.Count} not yet ended</p>{Table(replays, token, "/console/")}");

    /// <param name="token">The anti-forgery token of the page's forms (pause, resume, cancel).</param>
    /// <param name="returnTo">The console page an action comes back to (the replays page when null).</param>
    public static string Table(IReadOnlyList<ReplayItem> replays, string token, string? returnTo = null)
    {
        var html = new StringBuilder("<table id=\"replays-table\"><thead><tr><th>Replay</th><th>Target</th><th>Mode</th><th>Status</th>"
            + "<th>Progress</th><th>Rate</th><th>ETA</th><th>Requested</th><th></th></tr></thead><tbody>");
        foreach (var replay in replays)
        {
            var total = Math.Max(1, replay.EventsTotal);
            html.Append(CultureInfo.InvariantCulture, $"<tr data-replay=\"{ConsoleHtml.E(replay.ReplayId)}\" data-status=\"{ConsoleHtml.E(replay.Status)}\">")
                .Append(CultureInfo.InvariantCulture, $"<td title=\"{ConsoleHtml.E(replay.Reason ?? "")}\">{ConsoleHtml.E(replay.ReplayId)}</td>")
                .Append(CultureInfo.InvariantCulture, $"<td>{ConsoleHtml.E(replay.Target)}</td><td>{ConsoleHtml.E(replay.Mode)}</td>")
                .Append(CultureInfo.InvariantCulture, $"<td class=\"status-{ConsoleHtml.E(replay.Status)}\" title=\"{ConsoleHtml.E(replay.Error ?? "")}\">{ConsoleHtml.E(replay.Status)}</td>")
                .Append(CultureInfo.InvariantCulture, $"<td><progress max=\"{total}\" value=\"{Math.Min(total, replay.Done)}\"></progress> ")
                .Append(CultureInfo.InvariantCulture, $"<span class=\"done\">{replay.Done}</span> / {replay.EventsTotal}</td>")
                .Append(CultureInfo.InvariantCulture, $"<td>{replay.EventsPerSecond:0.#} /s</td>")
                .Append(CultureInfo.InvariantCulture, $"<td>{(replay.EtaSeconds is { } eta ? $"{eta:0} s" : "")}</td>")
                .Append(CultureInfo.InvariantCulture, $"<td>{ConsoleHtml.Time(replay.RequestedAt)}<br><span class=\"muted\">{ConsoleHtml.E(replay.RequestedBy ?? "")}</span></td><td>");
            foreach (var (action, allowed) in new[] { ("pause", replay.Status == "running"), ("resume", replay.Status == "paused"), ("cancel", replay.Running) })
            {
                if (allowed)
                {
                    html.Append(CultureInfo.InvariantCulture, $"<form class=\"inline\" method=\"post\" action=\"/console/replays?handler=Control\" hx-boost=\"true\">")
                        .Append(CultureInfo.InvariantCulture, $"<input type=\"hidden\" name=\"replayId\" value=\"{ConsoleHtml.E(replay.ReplayId)}\">")
                        .Append(CultureInfo.InvariantCulture, $"<input type=\"hidden\" name=\"action\" value=\"{action}\">")
                        .Append(returnTo is null ? "" : $"<input type=\"hidden\" name=\"returnTo\" value=\"{ConsoleHtml.E(returnTo)}\">")
                        .Append(CultureInfo.InvariantCulture, $"<input type=\"hidden\" name=\"__RequestVerificationToken\" value=\"{ConsoleHtml.E(token)}\">")
                        .Append(CultureInfo.InvariantCulture, $"<button data-action=\"{action}\">{action}</button></form> ");
                }
            }

            html.Append("</td></tr>");
        }

        return html.Append("</tbody></table>").ToString();
    }
}
