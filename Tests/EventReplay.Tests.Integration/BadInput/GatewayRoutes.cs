using System.Text.Json;
using System.Text.RegularExpressions;
using EventReplay.Security;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.BadInput;

/// <summary>
/// The gateway's routes as its appsettings.json declares them (path template and methods), matched the way the gateway
/// matches a request: literal segments in any case, one segment per parameter, a regex constraint on its segment, dot
/// segments resolved first.
/// </summary>
public sealed partial class GatewayRoutes
{
    /// <summary>A request whose path no route serves.</summary>
    public const string NoRoute = "no-route";

    /// <summary>A request whose path a route serves, with a method none of those routes accepts.</summary>
    public const string WrongMethod = "wrong-method";

    /// <summary>The route of the public OpenAPI document, which the gateway serves itself.</summary>
    public const string OpenApi = "openapi";

    /// <summary>The "cluster" of what the gateway serves itself.</summary>
    public const string Gateway = "gateway";

    private readonly List<Route> _routes;

    private GatewayRoutes(IReadOnlyList<Declaration> declarations)
    {
        Declarations = declarations;
        _routes = [.. declarations.Select(declared => new Route(declared.Name, declared.Path, declared.Methods))];
    }

    public static GatewayRoutes Configured { get; } = Load();

    /// <summary>A route as appsettings.json declares it: its cluster, path template, methods and the policies it names.</summary>
    public sealed record Declaration(string Name, string Cluster, string Path, string[] Methods, string? AuthorizationPolicy,
        string? RateLimiterPolicy);

    public IReadOnlyList<Declaration> Declarations { get; }

    /// <summary>Every route with each of its methods.</summary>
    public IEnumerable<(string Route, string Method)> RouteMethods =>
        _routes.SelectMany(route => route.Methods.Select(method => (route.Name, method)));

    public IEnumerable<string> Names => _routes.Select(route => route.Name);

    /// <summary>The route that serves this request, or <see cref="WrongMethod"/> or <see cref="NoRoute"/>.</summary>
    public string Match(string method, string pathAndQuery) => Match(method, pathAndQuery, out _);

    /// <summary>
    /// As <see cref="Match(string,string)"/>; <paramref name="pathRoutes"/> are the routes whose path matched (one path may
    /// have a route per method, each with its own policy).
    /// </summary>
    public string Match(string method, string pathAndQuery, out IReadOnlyList<string> pathRoutes)
    {
        var segments = Segments(pathAndQuery);
        var byPath = _routes.Where(route => route.Matches(segments)).ToList();
        pathRoutes = [.. byPath.Select(route => route.Name)];
        if (byPath.Count == 0)
        {
            return NoRoute;
        }

        return byPath.FirstOrDefault(route => route.Methods.Contains(method, StringComparer.OrdinalIgnoreCase))?.Name ?? WrongMethod;
    }

    /// <summary>
    /// A path a route template (or an OpenAPI path) describes: each parameter given a value its constraint takes, and
    /// one that names nothing that exists (a request to it has no side effects).
    /// </summary>
    public static string Concrete(string template) => TemplateParameter().Replace(template, match => match.Groups[2].Success
        ? match.Groups[2].Value.Split('|')[0].TrimStart('(')
        : match.Groups[1].Value switch
        {
            "endpoint" => "balances",
            "groupId" => "0000000000000000",
            "**file" => "htmx-2.0.11.min.js",
            var name when name.StartsWith("**", StringComparison.Ordinal) => "",
            _ => "auth-unknown",
        });

    [GeneratedRegex(@"\{(\*{0,2}[A-Za-z]+)(?::regex\(\^\((.*)\)\$\))?\}")]
    private static partial Regex TemplateParameter();

    private static List<string> Segments(string pathAndQuery)
    {
        var path = pathAndQuery.Split('?', 2)[0];
        // The server decodes %2E before it resolves dot segments (RFC 3986: it is an unreserved character).
        path = path.Replace("%2E", ".", StringComparison.OrdinalIgnoreCase);
        var segments = new List<string>();
        foreach (var segment in path.Split('/').Skip(1))
        {
            if (segment == "..")
            {
                if (segments.Count > 0)
                {
                    segments.RemoveAt(segments.Count - 1);
                }
            }
            else if (segment != ".")
            {
                segments.Add(segment);
            }
        }

        // A trailing slash is ignored by routing.
        if (segments.Count > 1 && segments[^1].Length == 0)
        {
            segments.RemoveAt(segments.Count - 1);
        }

        return segments;
    }

    private static GatewayRoutes Load()
    {
        var path = Path.Combine(TestEnvironment.RepoRoot, "Gateway", "EventReplay.Gateway", "appsettings.json");
        using var settings = JsonDocument.Parse(File.ReadAllText(path));
        return new GatewayRoutes([.. settings.RootElement.GetProperty("ReverseProxy").GetProperty("Routes").EnumerateObject()
            .Select(route => new Declaration(route.Name, route.Value.GetProperty("ClusterId").GetString()!,
                route.Value.GetProperty("Match").GetProperty("Path").GetString()!,
                [.. route.Value.GetProperty("Match").GetProperty("Methods").EnumerateArray().Select(method => method.GetString()!)],
                Text(route.Value, "AuthorizationPolicy"), Text(route.Value, "RateLimiterPolicy"))),
            // The gateway's own: the public contract it merges from the services' documents (PublicDocument).
            new Declaration(OpenApi, Gateway, "/openapi/v1.json", ["GET"], Policies.Anonymous, "reads")]);
    }

    private static string? Text(JsonElement route, string property) =>
        route.TryGetProperty(property, out var value) ? value.GetString() : null;

    private sealed partial class Route
    {
        private readonly List<Regex> _segments;

        public Route(string name, string template, string[] methods)
        {
            Name = name;
            Methods = methods;
            var segments = template.Split('/').Skip(1).ToList();
            // {**name} at the end takes the rest of the path, however many segments (none too).
            _catchAll = segments.Count > 0 && segments[^1].StartsWith("{**", StringComparison.Ordinal);
            _segments = [.. (_catchAll ? segments[..^1] : segments).Select(Segment)];
        }

        private readonly bool _catchAll;

        public string Name { get; }

        public string[] Methods { get; }

        public bool Matches(List<string> segments) =>
            _catchAll
                ? segments.Count >= _segments.Count && _segments.Zip(segments).All(pair => pair.First.IsMatch(pair.Second))
                : segments.Count == _segments.Count && _segments.Zip(segments).All(pair => pair.First.IsMatch(pair.Second));

        private static Regex Segment(string template)
        {
            if (Parameter().Match(template) is not { Success: true } parameter)
            {
                return new Regex("^" + Regex.Escape(template) + "$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);
            }

            // {name} takes any non-empty segment; {name:regex(...)} only what the expression accepts.
            return parameter.Groups[1].Success
                ? new Regex(parameter.Groups[1].Value, RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)
                : new Regex("^.+$");
        }

        [GeneratedRegex(@"^\{[A-Za-z]+(?::regex\((.*)\))?\}$")]
        private static partial Regex Parameter();
    }
}
