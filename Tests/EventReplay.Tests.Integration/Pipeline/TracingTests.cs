using System.Diagnostics;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Pipeline;

/// <summary>
/// The system's telemetry as an operator sees it: every service exports with its real OpenTelemetry exporter to a
/// collector, and one command's trace runs from the request at the load balancer to both consumers' writes. Traces are
/// sampled parent-based: with the ratio at 0, the trace a caller sampled in is still recorded whole, and nothing else.
/// </summary>
public class TracingTests
{
    [Test]
    public async Task One_trace_runs_from_the_request_to_each_consumers_write()
    {
        await using var collector = new TraceCollector();
        // Traces that start in the system are sampled out (ratio 0); one a caller sampled in is recorded whole (parent-based).
        await using var stack = await ServiceStack.StartedAsync(environment: new Dictionary<string, string>(collector.Environment)
        {
            ["Telemetry__TraceSampleRatio"] = "0",
        });
        var id = ProducerApi.NewAccountId();
        await stack.Api.OpenedAsync(id);
        await Eventually.Until(() => BalanceVersionAsync(stack, id), version => version == 1, LivePipelineTests.Settle,
            $"{id} to be applied before the traced command");

        // The caller starts the trace, as a traced client would, and the system continues it.
        var traceId = ActivityTraceId.CreateRandom().ToHexString();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/accounts/{id}/deposits")
        {
            Content = new StringContent("""{"amount":5}""", System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("traceparent", $"00-{traceId}-{ActivitySpanId.CreateRandom().ToHexString()}-01");
        using (var response = await stack.Api.Http.SendAsync(request))
        {
            await ProducerApi.BodyAsync(response, 200);
        }

        var trace = await Eventually.Until(() => Task.FromResult(collector.Trace(traceId)), IsComplete,
            TimeSpan.FromSeconds(30), $"the spans of trace {traceId} from every service");

        var byId = trace.ToDictionary(span => span.SpanId);
        foreach (var consumer in Consumers)
        {
            var process = trace.Single(span => span.Service == consumer && IsProcessing(span));
            Assert.Multiple(() =>
            {
                Assert.That(byId.TryGetValue(process.ParentSpanId, out var parent) ? parent.Name : null, Is.EqualTo("events publish"),
                    $"{consumer}'s processing continues the publish span");
                Assert.That(trace.Any(span => span.ParentSpanId == process.SpanId), Is.True,
                    $"{consumer}'s database write is part of the trace");
            });
        }

        var balances = trace.Single(span => span.Service == Consumers[0] && IsProcessing(span));
        Assert.That(trace.Where(span => span.ParentSpanId == balances.SpanId).Select(span => span.Name), Does.Contain("EVAL"),
            "the balances cache write (a Redis script) is part of the trace");
        Assert.That(collector.Spans.Where(span => span.TraceId != traceId).Select(span => $"{span.Service}: {span.Name}").Distinct(), Is.Empty,
            "no span of a trace the system started itself (the first command's, the services' own work): the ratio is 0");
        var publish = trace.First(span => span.Name == "events publish");
        Assert.That(byId.TryGetValue(publish.ParentSpanId, out var appended) ? appended.Service : null, Is.EqualTo("EventReplay.Producer"),
            "the publish span continues the producer's request");
    }

    private static readonly string[] Consumers = ["EventReplay.Consumers.Balances", "EventReplay.Consumers.Statistics"];

    private static bool IsProcessing(CollectedSpan span) => span.Name.EndsWith(" process", StringComparison.Ordinal);

    private static bool IsComplete(IReadOnlyList<CollectedSpan> spans) =>
        spans.Any(span => span.Service == "EventReplay.Gateway")
        && spans.Any(span => span.Name == "events publish")
        && Consumers.All(consumer => spans.Any(process => process.Service == consumer && IsProcessing(process)
            && spans.Any(child => child.ParentSpanId == process.SpanId)))
        // The Redis instrumentation reports its spans on a timer of its own, after the others.
        && spans.Any(cache => cache.Name == "EVAL" && spans.Any(process => process.SpanId == cache.ParentSpanId
            && process.Service == Consumers[0] && IsProcessing(process)));

    private static async Task<long?> BalanceVersionAsync(ServiceStack stack, string id) =>
        (await LivePipelineTests.GetAccountAsync(stack.Api, id))?.GetProperty("version").GetInt64();
}
