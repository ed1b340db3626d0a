using System.Collections.Concurrent;
using System.Net;
using Google.Protobuf;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>One span as a service exported it: who, which trace, its place in the tree, and the traces it links to.</summary>
public sealed record CollectedSpan(string Service, string Name, string TraceId, string SpanId, string ParentSpanId,
    IReadOnlyList<string> LinkedTraceIds);

/// <summary>
/// A minimal OTLP/HTTP trace receiver: the services export to it with their real OpenTelemetry exporter
/// (<c>OTEL_EXPORTER_OTLP_ENDPOINT</c>), and it keeps the spans it is sent. It reads only the fields the tests
/// assert on, straight from the protobuf wire format (opentelemetry/proto/trace/v1/trace.proto).
/// </summary>
public sealed class TraceCollector : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ConcurrentQueue<CollectedSpan> _spans = new();
    private readonly Task _loop;

    public TraceCollector()
    {
        Port = TestEnvironment.FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(ServeAsync);
    }

    public int Port { get; }

    /// <summary>What a service needs to export here quickly: the endpoint, the protocol, a short batch delay.</summary>
    public IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string>
    {
        ["OTEL_EXPORTER_OTLP_ENDPOINT"] = $"http://127.0.0.1:{Port}",
        ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
        ["OTEL_BSP_SCHEDULE_DELAY"] = "100",
        ["OTEL_METRIC_EXPORT_INTERVAL"] = "600000",
    };

    public IReadOnlyList<CollectedSpan> Trace(string traceId) => _spans.Where(span => span.TraceId == traceId).ToList();

    public IReadOnlyList<CollectedSpan> Spans => _spans.ToList();

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        _listener.Close();
        try
        {
            await _loop;
        }
        catch (HttpListenerException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            var context = await _listener.GetContextAsync();
            using var body = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(body);
            if (context.Request.Url?.AbsolutePath == "/v1/traces")
            {
                ReadExportRequest(body.ToArray());
            }

            context.Response.StatusCode = 200;
            context.Response.ContentType = "application/x-protobuf";
            context.Response.Close();
        }
    }

    // ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
    private void ReadExportRequest(byte[] request)
    {
        foreach (var resourceSpans in Fields(request).Where(f => f.Number == 1))
        {
            // ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
            var fields = Fields(resourceSpans.Bytes).ToList();
            var service = fields.Where(f => f.Number == 1).Select(f => ServiceName(f.Bytes)).FirstOrDefault() ?? "";
            foreach (var scopeSpans in fields.Where(f => f.Number == 2))
            {
                // ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; }
                foreach (var span in Fields(scopeSpans.Bytes).Where(f => f.Number == 2))
                {
                    _spans.Enqueue(ReadSpan(service, span.Bytes));
                }
            }
        }
    }

    // Span { bytes trace_id = 1; bytes span_id = 2; bytes parent_span_id = 4; string name = 5; repeated Link links = 13; }
    private static CollectedSpan ReadSpan(string service, byte[] span)
    {
        var fields = Fields(span).ToList();
        string Hex(int number) => fields.Where(f => f.Number == number).Select(f => Convert.ToHexStringLower(f.Bytes)).FirstOrDefault() ?? "";
        var name = fields.Where(f => f.Number == 5).Select(f => System.Text.Encoding.UTF8.GetString(f.Bytes)).FirstOrDefault() ?? "";
        var links = fields.Where(f => f.Number == 13)
            .Select(link => Fields(link.Bytes).Where(f => f.Number == 1).Select(f => Convert.ToHexStringLower(f.Bytes)).FirstOrDefault() ?? "")
            .ToList();
        return new CollectedSpan(service, name, Hex(1), Hex(2), Hex(4), links);
    }

    // Resource { repeated KeyValue attributes = 1; } KeyValue { string key = 1; AnyValue value = 2; } AnyValue { string string_value = 1; }
    private static string? ServiceName(byte[] resource) =>
        Fields(resource).Where(f => f.Number == 1)
            .Select(attribute => Fields(attribute.Bytes).ToList())
            .Where(kv => kv.Any(f => f.Number == 1 && System.Text.Encoding.UTF8.GetString(f.Bytes) == "service.name"))
            .Select(kv => kv.Where(f => f.Number == 2).SelectMany(value => Fields(value.Bytes)).Where(f => f.Number == 1)
                .Select(f => System.Text.Encoding.UTF8.GetString(f.Bytes)).FirstOrDefault())
            .FirstOrDefault();

    /// <summary>The length-delimited fields of a message (the only kind read here); other fields are skipped.</summary>
    private static IEnumerable<(int Number, byte[] Bytes)> Fields(byte[] message)
    {
        var input = new CodedInputStream(message);
        var fields = new List<(int, byte[])>();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            if (WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited)
            {
                fields.Add((WireFormat.GetTagFieldNumber(tag), input.ReadBytes().ToByteArray()));
            }
            else
            {
                input.SkipLastField();
            }
        }

        return fields;
    }
}
