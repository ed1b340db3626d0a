using System.Collections.Concurrent;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Configuration;

namespace EventReplay.Gateway.Proxy;

/// <summary>
/// The public contract, <c>GET /openapi/v1.json</c>: one OpenAPI document built from the services' own documents, with
/// exactly the operations the gateway routes (a service's operation no route reaches is not public, and is left out), and
/// only the schemas those operations use. Each service's document is fetched from its cluster and kept for
/// <c>PublicDocument:RefreshAfter</c> (30 s); when a service cannot be asked, the last document it gave serves; when it
/// never gave one, the answer is a 503 (the contract is never served with a part missing).
/// </summary>
public sealed partial class PublicDocument(IProxyStateLookup proxy, IHttpClientFactory clients, TimeProvider clock, IConfiguration configuration,
    ILogger<PublicDocument> logger)
{
    public const string Path = "/openapi/v1.json";

    private readonly TimeSpan _fresh = configuration.GetValue("PublicDocument:RefreshAfter", TimeSpan.FromSeconds(30));

    private const string SchemaRef = "#/components/schemas/";

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly ConcurrentDictionary<string, (JsonObject Document, DateTimeOffset At)> _documents = new();

    public static void Map(WebApplication app) =>
        app.MapGet(Path, (HttpContext http, PublicDocument document, CancellationToken ct) => document.GetAsync(http, ct))
            .AllowAnonymous().RequireRateLimiting(RateLimitOptions.ReadsPolicy).ExcludeFromDescription();

    private async Task<IResult> GetAsync(HttpContext http, CancellationToken cancellationToken)
    {
        var routes = proxy.GetRoutes().Select(route => route.Config).Where(route => route.ClusterId is not null && route.Match.Path is not null).ToList();
        var parts = await Task.WhenAll(routes.Select(route => route.ClusterId!).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)
            .Select(async cluster => (Cluster: cluster, Document: await DocumentOfAsync(cluster, cancellationToken))));
        if (parts.Where(part => part.Document is null).Select(part => part.Cluster).ToList() is { Count: > 0 } missing)
        {
            http.Response.Headers.RetryAfter = "5";
            return TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "The API description is not complete yet.",
                detail: $"No OpenAPI document came from {string.Join(", ", missing)} yet.");
        }

        var server = $"{http.Request.Scheme}://{http.Request.Host}";
        // Merged again only when a part, a route or the server asked for changed: the same parts serve many requests.
        object[] inputs = [server, .. routes, .. parts.Select(part => part.Document!)];
        if (_merged is not { } merged || !merged.Inputs.SequenceEqual(inputs))
        {
            merged = new Merged(inputs, Merge([.. parts.Select(part => (part.Cluster, part.Document!))], routes, server).ToJsonString(Indented));
            _merged = merged;
        }

        return TypedResults.Text(merged.Text, "application/json");
    }

    private volatile Merged? _merged;

    private sealed record Merged(object[] Inputs, string Text);

    /// <summary>The cluster's document: fresh, else fetched from its first destination that answers, else the last one it gave.</summary>
    private async Task<JsonObject?> DocumentOfAsync(string cluster, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        if (_documents.TryGetValue(cluster, out var kept) && now - kept.At < _fresh)
        {
            return kept.Document;
        }

        var destinations = proxy.TryGetCluster(cluster, out var state)
            ? state.Destinations.Values.Select(destination => destination.Model.Config.Address)
            : [];
        foreach (var address in destinations)
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(3));
                var text = await clients.CreateClient(nameof(PublicDocument))
                    .GetStringAsync(new Uri(new Uri(address), Path.TrimStart('/')), timeout.Token);
                if (JsonNode.Parse(text) is JsonObject document)
                {
                    _documents[cluster] = (document, now);
                    return document;
                }
            }
            catch (Exception exception) when (exception is HttpRequestException or JsonException or OperationCanceledException
                                               && !cancellationToken.IsCancellationRequested)
            {
                LogNotFetched(cluster, address, exception.Message);
            }
        }

        return kept.Document;
    }

    /// <summary>The operations the routes reach, from each cluster's document; schemas by name (renamed when two clusters differ on one).</summary>
    public static JsonObject Merge(IReadOnlyList<(string Cluster, JsonObject Document)> parts, IReadOnlyList<RouteConfig> routes, string server)
    {
        var paths = new JsonObject();
        var schemas = new JsonObject();
        var securitySchemes = new JsonObject();
        var tags = new List<JsonNode>();
        foreach (var (cluster, original) in parts)
        {
            var document = Renamed(original, cluster, schemas);
            foreach (var (path, item) in document["paths"]?.AsObject() ?? [])
            {
                foreach (var (method, operation) in item!.AsObject())
                {
                    if (operation is JsonObject && routes.Any(route => route.ClusterId == cluster && Reaches(route, method, path)))
                    {
                        var target = paths[path] as JsonObject ?? (JsonObject)(paths[path] = new JsonObject());
                        target[method] = operation.DeepClone();
                    }
                }
            }

            foreach (var (name, schema) in document["components"]?["schemas"]?.AsObject() ?? [])
            {
                schemas[name] ??= schema!.DeepClone();
            }

            foreach (var (name, scheme) in document["components"]?["securitySchemes"]?.AsObject() ?? [])
            {
                securitySchemes[name] ??= scheme!.DeepClone();
            }

            foreach (var tag in document["tags"]?.AsArray() ?? [])
            {
                if (tags.All(kept => kept["name"]?.GetValue<string>() != tag!["name"]?.GetValue<string>()))
                {
                    tags.Add(tag!.DeepClone());
                }
            }
        }

        var used = Used(paths, schemas);
        var openApi = parts.Select(part => part.Document["openapi"]?.GetValue<string>()).FirstOrDefault(version => version is not null) ?? "3.0.4";
        return new JsonObject
        {
            ["openapi"] = openApi,
            ["info"] = new JsonObject
            {
                ["title"] = "EventReplay",
                ["version"] = "v1",
                ["description"] = "The public API of EventReplay, an event-sourced system whose event store can replay history to its "
                                  + "consumers. Every operation but this document and the health checks needs a bearer token (JWT) with "
                                  + "the role it names (`x-roles`): reader, writer or operator. Errors are problem details (RFC 9457).",
            },
            ["servers"] = new JsonArray(new JsonObject { ["url"] = server, ["description"] = "The gateway" }),
            ["tags"] = new JsonArray([.. tags.Where(tag => Tagged(paths, tag["name"]!.GetValue<string>()))
                .OrderBy(tag => tag["name"]!.GetValue<string>(), StringComparer.Ordinal)]),
            ["paths"] = Sorted(paths),
            ["components"] = new JsonObject
            {
                ["schemas"] = Sorted(new JsonObject([.. schemas.Where(schema => used.Contains(schema.Key))
                    .Select(schema => KeyValuePair.Create(schema.Key, schema.Value?.DeepClone()))])),
                ["securitySchemes"] = securitySchemes,
            },
        };
    }

    // A schema another cluster already gave, with another shape, is this cluster's under a name with the cluster in front.
    private static JsonObject Renamed(JsonObject original, string cluster, JsonObject schemas)
    {
        var document = original.DeepClone().AsObject();
        if (document["components"]?["schemas"] is not JsonObject own)
        {
            return document;
        }

        var renames = own.Where(schema => schemas[schema.Key] is { } kept && !JsonNode.DeepEquals(kept, schema.Value))
            .ToDictionary(schema => schema.Key, schema => $"{char.ToUpperInvariant(cluster[0])}{cluster[1..]}{schema.Key}");
        foreach (var (name, renamed) in renames)
        {
            var schema = own[name];
            own.Remove(name);
            own[renamed] = schema;
        }

        foreach (var holder in References(document))
        {
            if (renames.TryGetValue(holder["$ref"]!.GetValue<string>()[SchemaRef.Length..], out var renamed))
            {
                holder["$ref"] = SchemaRef + renamed;
            }
        }

        return document;
    }

    /// <summary>Whether the route serves this method on this path template (a parameter of the document meets any segment of the route's).</summary>
    public static bool Reaches(RouteConfig route, string method, string path)
    {
        if (route.Match.Methods is { Count: > 0 } methods && !methods.Contains(method, StringComparer.OrdinalIgnoreCase))
        {
            return false;
        }

        var template = route.Match.Path!.Trim('/').Split('/');
        var segments = path.Trim('/').Split('/');
        if (template.Length != segments.Length || template.Any(segment => segment.StartsWith("{*", StringComparison.Ordinal)))
        {
            return false;
        }

        return template.Zip(segments).All(pair => Parameter().Match(pair.First) is { Success: true } parameter
            ? pair.Second.StartsWith('{') || !parameter.Groups[1].Success || Regex.IsMatch(pair.Second, parameter.Groups[1].Value,
                RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1))
            : pair.First.Equals(pair.Second, StringComparison.OrdinalIgnoreCase));
    }

    [GeneratedRegex(@"^\{[^:}]+(?::regex\((.*)\))?\}$")]
    private static partial Regex Parameter();

    // The schemas the operations name, and those they name in turn.
    private static HashSet<string> Used(JsonObject paths, JsonObject schemas)
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<JsonNode?>([paths]);
        while (pending.TryPop(out var node))
        {
            foreach (var holder in References(node))
            {
                var name = holder["$ref"]!.GetValue<string>()[SchemaRef.Length..];
                if (used.Add(name))
                {
                    pending.Push(schemas[name]);
                }
            }
        }

        return used;
    }

    // Every object under the node that refers to a schema ({"$ref": "#/components/schemas/…"}).
    private static IEnumerable<JsonObject> References(JsonNode? root)
    {
        var pending = new Stack<JsonNode?>([root]);
        while (pending.TryPop(out var node))
        {
            if (node is JsonObject item)
            {
                if (item["$ref"] is JsonValue reference && reference.TryGetValue<string>(out var target)
                    && target.StartsWith(SchemaRef, StringComparison.Ordinal))
                {
                    yield return item;
                }

                foreach (var (_, value) in item)
                {
                    pending.Push(value);
                }
            }
            else if (node is JsonArray array)
            {
                foreach (var value in array)
                {
                    pending.Push(value);
                }
            }
        }
    }

    private static bool Tagged(JsonObject paths, string tag) =>
        paths.Select(path => path.Value!.AsObject()).SelectMany(item => item.Select(operation => operation.Value))
            .Any(operation => operation?["tags"]?.AsArray().Any(name => name?.GetValue<string>() == tag) == true);

    private static JsonObject Sorted(JsonObject items) =>
        new([.. items.OrderBy(item => item.Key, StringComparer.Ordinal).Select(item => KeyValuePair.Create(item.Key, item.Value?.DeepClone()))]);

    [LoggerMessage(Level = LogLevel.Warning, Message = "No OpenAPI document from {Cluster} at {Address}: {Reason}")]
    private partial void LogNotFetched(string cluster, string address, string reason);
}
