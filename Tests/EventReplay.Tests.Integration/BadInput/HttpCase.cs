using System.Globalization;
using System.Net.Http.Headers;
using System.Text;

namespace EventReplay.Tests.Integration.BadInput;

/// <summary>
/// One request of http.cases: <c>EXPECT | METHOD PATH | HEADERS | BODY</c> (see the top of that file).
/// </summary>
public sealed record HttpCase(CorpusLine Line, IReadOnlySet<int> Expected, bool Plain, string Method, string Path,
    IReadOnlyList<(string Name, string Value)> Headers, bool Chunked, bool Utf16, string? Body)
{
    public const string FileName = "http.cases";

    private static readonly Lazy<(IReadOnlyList<HttpCase> Cases, HttpRules Rules)> Loaded = new(Load);

    public static IReadOnlyList<HttpCase> All => Loaded.Value.Cases;

    public static HttpRules Rules => Loaded.Value.Rules;

    public string Name => Line.Name($"{Method} {Path}" + (Body is null ? "" : " " + Body) + " -> " + string.Join("/", Expected.Order())
        + (Headers.Count > 0 ? " [" + string.Join("; ", Headers.Select(h => $"{h.Name}: {h.Value}")) + "]" : ""));

    /// <summary>The route the gateway serves this request with, as far as its path and method tell (placeholders as sample values).</summary>
    public string Route => GatewayRoutes.Configured.Match(Method, Template.Latin1(Path, HttpRules.SampleValues));

    /// <summary>The routes whose path this request's path matches, whatever their methods.</summary>
    public IReadOnlyList<string> PathRoutes
    {
        get
        {
            GatewayRoutes.Configured.Match(Method, Template.Latin1(Path, HttpRules.SampleValues), out var routes);
            return routes;
        }
    }

    public HttpRequestMessage ToRequest(Uri baseAddress, IReadOnlyDictionary<string, string> values)
    {
        // The path goes out exactly as written: no dot segments resolved, no escapes undone.
        var uri = new Uri(baseAddress + Template.Latin1(Path, values).TrimStart('/'),
            new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });
        var request = new HttpRequestMessage(new HttpMethod(Method), uri);
        var contentHeaders = Headers.Where(h => IsContentHeader(h.Name)).ToList();
        if (Body is not null || contentHeaders.Count > 0)
        {
            var bytes = Body is null ? [] : Template.Bytes(Body, values, Utf16);
            request.Content = Chunked ? new StreamContent(new MemoryStream(bytes)) : new ByteArrayContent(bytes);
            foreach (var (name, value) in contentHeaders)
            {
                request.Content.Headers.TryAddWithoutValidation(name, Template.Latin1(value, values));
            }
        }

        request.Headers.TransferEncodingChunked = Chunked;
        foreach (var (name, value) in Headers.Where(h => !IsContentHeader(h.Name)))
        {
            if (!request.Headers.TryAddWithoutValidation(name, Template.Latin1(value, values)))
            {
                throw new InvalidOperationException($"{Line}: HttpClient will not send the header {name}; make it a raw case");
            }
        }

        return request;
    }

    private static bool IsContentHeader(string name) => name.StartsWith("Content-", StringComparison.OrdinalIgnoreCase);

    private static (IReadOnlyList<HttpCase>, HttpRules) Load()
    {
        var (lines, directives) = Corpus.Read(FileName);
        var rules = HttpRules.Parse(directives);
        return ([.. lines.Select(line => Parse(line, rules))], rules);
    }

    private static HttpCase Parse(CorpusLine line, HttpRules rules)
    {
        var fields = Corpus.Fields(line, 4);
        var (expected, plain) = Expectation.Parse(line, fields[0]);
        // 'plain' lets only the statuses of @plain come without a problem body; a case that names none of them has no use for it.
        if (plain && !expected.Any(rules.PlainStatuses.Contains))
        {
            throw new FormatException($"{line}: 'plain' is for the statuses of @plain ({string.Join(" ", rules.PlainStatuses)})");
        }

        var request = fields[1].Split(' ', 2);
        if (request.Length != 2 || request[1].Any(c => c > '~' || c < ' '))
        {
            throw new FormatException($"{line}: expected METHOD PATH with a printable ASCII path (send anything else as a raw case)");
        }

        var headers = new List<(string, string)>();
        bool chunked = false, utf16 = false;
        foreach (var entry in fields[2] == "-" ? [] : fields[2].Split(" ;; "))
        {
            switch (entry.Trim())
            {
                case "json":
                    headers.Add(("Content-Type", "application/json"));
                    break;
                case "chunked":
                    chunked = true;
                    break;
                case "utf16":
                    utf16 = true;
                    break;
                case var header when header.IndexOf(':', StringComparison.Ordinal) > 0:
                    var colon = header.IndexOf(':', StringComparison.Ordinal);
                    headers.Add((header[..colon], header[(colon + 1)..].TrimStart()));
                    break;
                default:
                    throw new FormatException($"{line}: header '{entry}' is not json, chunked, utf16 or Name: value");
            }
        }

        return new HttpCase(line, expected, plain, request[0], request[1], headers, chunked, utf16, fields[3] == "-" ? null : fields[3]);
    }
}

/// <summary>The statuses a case may get (<c>400 404</c>), and <c>plain</c> when the web server may refuse it without a problem body.</summary>
public static class Expectation
{
    public static (IReadOnlySet<int> Statuses, bool Plain) Parse(CorpusLine line, string field)
    {
        var statuses = new SortedSet<int>();
        var plain = false;
        foreach (var token in field.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (token == "plain")
            {
                plain = true;
            }
            else if (int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var status) && status is >= 200 and < 500)
            {
                statuses.Add(status);
            }
            else
            {
                throw new FormatException($"{line}: '{token}' is not an expected status (200-499) or 'plain'");
            }
        }

        if (statuses.Count == 0)
        {
            throw new FormatException($"{line}: no expected status");
        }

        return (statuses, plain);
    }
}

/// <summary>
/// The directives of http.cases: which statuses the README documents for each gateway route (<c>@documented ROUTE …</c>,
/// with <c>any</c> for every route), and which statuses the web server gives without a problem body (<c>@plain …</c>).
/// </summary>
public sealed class HttpRules
{
    /// <summary>Values for the placeholders when a case is only looked at (routes, names), not sent.</summary>
    public static IReadOnlyDictionary<string, string> SampleValues { get; } = new Dictionary<string, string>
    {
        ["open"] = "acc-open",
        ["poor"] = "acc-poor",
        ["new"] = "acc-new",
        ["closed"] = "acc-closed",
        ["replay"] = "replay-done",
    };

    public Dictionary<string, SortedSet<int>> Documented { get; } = new(StringComparer.Ordinal);

    public SortedSet<int> PlainStatuses { get; } = [];

    /// <summary>The route's statuses, those of every route, and the web server's plain refusals (documented for every request).</summary>
    public IReadOnlySet<int> DocumentedFor(string route) =>
        new SortedSet<int>(Documented.GetValueOrDefault(route, []).Concat(Documented.GetValueOrDefault("any", [])).Concat(PlainStatuses));

    public static HttpRules Parse(IEnumerable<CorpusLine> directives)
    {
        var rules = new HttpRules();
        foreach (var directive in directives)
        {
            var words = directive.Text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var statuses = words.SkipWhile(word => !char.IsDigit(word[0])).TakeWhile(word => char.IsDigit(word[0]))
                .Select(word => int.Parse(word, CultureInfo.InvariantCulture));
            switch (words[0])
            {
                case "@documented" when words.Length > 2:
                    rules.Documented[words[1]] = [.. statuses];
                    break;
                case "@plain":
                    rules.PlainStatuses.UnionWith(statuses);
                    break;
                default:
                    throw new FormatException($"{directive}: unknown directive");
            }
        }

        return rules;
    }

    public static string Describe(HttpResponseMessage response, byte[] body) =>
        $"{(int)response.StatusCode} {response.Content.Headers.ContentType} {CorpusLine.Printable(Encoding.UTF8.GetString(body), 300)}";

    public static bool IsProblem(MediaTypeHeaderValue? contentType) => contentType?.MediaType == "application/problem+json";
}
