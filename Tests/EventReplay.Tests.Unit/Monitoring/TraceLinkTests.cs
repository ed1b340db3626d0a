using EventReplay.Monitor.Console;
using Microsoft.Extensions.Configuration;

namespace EventReplay.Tests.Unit.Monitoring;

/// <summary>The console's links from a trace id (or a message's <c>traceparent</c> header) to the dashboard of traces.</summary>
public class TraceLinkTests
{
    private const string TraceId = "4bf92f3577b34da6a3ce929d0e0e4736";

    [TestCase("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", TraceId)]
    [TestCase("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", null)]
    [TestCase("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", null)]
    [TestCase("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", null)]
    [TestCase("00-zzf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", null)]
    [TestCase("", null)]
    public void A_traceparent_gives_its_trace_id_when_it_is_well_formed(string traceparent, string? expected) =>
        Assert.That(ConsoleHtml.TraceIdOf(traceparent), Is.EqualTo(expected));

    [TestCase("http://127.0.0.1:18888", "http://127.0.0.1:18888/traces/detail/" + TraceId)]
    [TestCase("http://127.0.0.1:18888/", "http://127.0.0.1:18888/traces/detail/" + TraceId)]
    [TestCase("", null)]
    [TestCase(null, null)]
    public void A_trace_id_links_to_the_dashboard_only_when_one_is_configured(string? tracesUrl, string? expected)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Monitoring:TracesUrl"] = tracesUrl }).Build();

        Assert.That(ConsoleHtml.TraceLink(configuration, TraceId), Is.EqualTo(expected));
    }
}
