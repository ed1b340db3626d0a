using System.Diagnostics;
using System.Text;

namespace EventReplay.Hosting;

/// <summary>
/// The system's own spans, and how a trace travels with an event: the producer stores the W3C
/// <c>traceparent</c> of the request that appended it, the publisher sends it as an AMQP header, and the consumer
/// continues the trace when it applies the event, so one trace runs from the HTTP request to the consumer's write.
/// </summary>
public static class Telemetry
{
    public const string SourceName = "EventReplay";

    public const string TraceParent = EventReplay.EventLog.EventTable.TraceParentHeader;

    public static readonly ActivitySource Source = new(SourceName);

    public static ActivityContext? Parse(string? traceParent) =>
        traceParent is not null && ActivityContext.TryParse(traceParent, null, isRemote: true, out var context) ? context : null;

    /// <summary>
    /// Starts a span that serves many requests (a message or a batch of events): in the trace of the first traced one,
    /// linked to the others' (at most 64 links; links are how a span belongs to more than one trace). When none is traced:
    /// a root span if <paramref name="rootWhenUntraced"/>, else none.
    /// </summary>
    public static Activity? StartForMany(string name, ActivityKind kind, IEnumerable<string?> traceParents, bool rootWhenUntraced = false)
    {
        const int MaxLinks = 64;
        ActivityContext? parent = null;
        var links = new List<ActivityLink>();
        foreach (var traceParent in traceParents)
        {
            if (Parse(traceParent) is not { } context)
            {
                continue;
            }

            if (parent is null)
            {
                parent = context;
            }
            else if (links.Count < MaxLinks)
            {
                links.Add(new ActivityLink(context));
            }
        }

        return parent is null && !rootWhenUntraced ? null : Source.StartActivity(name, kind, parent ?? default, links: links);
    }

    /// <summary>The <c>traceparent</c> AMQP header of a delivery (the client hands header strings over as bytes).</summary>
    public static string? TraceParentOf(IDictionary<string, object?>? headers) =>
        headers is not null && headers.TryGetValue(TraceParent, out var value)
            ? value switch
            {
                byte[] bytes => Encoding.UTF8.GetString(bytes),
                string text => text,
                _ => null,
            }
            : null;
}
