using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using EventReplay.Security;
using EventReplay.Tests.Integration.Infrastructure;
using Microsoft.IdentityModel.Tokens;

namespace EventReplay.Tests.Integration.Security;

/// <summary>
/// Who may call what, route by route: every operation of the public contract (with the roles it names) and every other
/// route of the gateway (its appsettings, with the route's policy) with no
/// token, each role, and tokens that must be refused (expired, not yet valid, signed by another key, for another
/// audience or issuer, <c>alg: none</c>, an HMAC made with the public key, malformed), sent through the load balancer
/// and again straight to the service behind the route: a request that bypasses the gateway gains nothing.
/// </summary>
public sealed partial class AuthorizationTests : StackOverEmptyLog
{
    private sealed record PublicRoute(string Name, string Cluster, string Path, string Method, string Policy);

    // Every operation of the public contract (docs/openapi/v1.json, which ContractTests hold equal to what the gateway
    // serves) with the roles it names, then the gateway's routes the contract does not describe (the console, the
    // contract itself) with their policies: a route added anywhere is in the matrix.
    private static IReadOnlyList<PublicRoute> Routes()
    {
        var routes = BadInput.GatewayRoutes.Configured;
        var operations = PublicContract.Operations(PublicContract.Document).Select(operation =>
        {
            var path = BadInput.GatewayRoutes.Concrete(operation.Path);
            var route = routes.Declarations.Single(declaration => declaration.Name == routes.Match(operation.Method, path));
            return new PublicRoute(operation.Id, route.Cluster, path, operation.Method, operation.Policy);
        }).ToList();
        var described = operations.Select(operation => routes.Match(operation.Method, operation.Path)).ToHashSet();
        return
        [
            .. operations,
            .. routes.Declarations.SelectMany(route => route.Methods.Select(method => (route, method)))
                .Where(item => !described.Contains(routes.Match(item.method, BadInput.GatewayRoutes.Concrete(item.route.Path))))
                .Select(item => new PublicRoute(item.route.Name, item.route.Cluster, BadInput.GatewayRoutes.Concrete(item.route.Path), item.method,
                    item.route.AuthorizationPolicy ?? "(none)")),
        ];
    }

    private static readonly Lazy<IReadOnlyDictionary<string, string?>> Tokens = new(() =>
    {
        var now = DateTime.UtcNow;
        string[] all = [.. Roles.All];
        var valid = TestTokens.For("matrix", Roles.Operator);
        var payload = valid.Split('.')[1];
        using var otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return new Dictionary<string, string?>
        {
            ["none"] = null,
            [Roles.Reader] = TestTokens.For("matrix reader", Roles.Reader),
            [Roles.Writer] = TestTokens.For("matrix writer", Roles.Writer),
            [Roles.Operator] = valid,
            ["expired"] = TestTokens.Custom("matrix", all, TimeSpan.FromHours(1), now.AddHours(-3)),
            ["not yet valid"] = TestTokens.Custom("matrix", all, TimeSpan.FromHours(1), now.AddHours(1)),
            ["bad signature"] = LocalTokens.Mint(new ECDsaSecurityKey(otherKey), "matrix", all, TimeSpan.FromHours(1)),
            ["other audience"] = TestTokens.Custom("matrix", all, TimeSpan.FromHours(1), now, audience: "another-system"),
            ["other issuer"] = TestTokens.Custom("matrix", all, TimeSpan.FromHours(1), now, issuer: "someone-else"),
            ["alg none"] = $"{Base64UrlEncoder.Encode("""{"alg":"none","typ":"JWT"}""")}.{payload}.",
            ["hmac with the public key"] = Hmac(payload, File.ReadAllBytes(TestTokens.PublicKeyFile)),
            ["malformed"] = "not-a-token",
        };
    });

    private static string Hmac(string payload, byte[] secret)
    {
        var signed = $"{Base64UrlEncoder.Encode("""{"alg":"HS256","typ":"JWT"}""")}.{payload}";
        return $"{signed}.{Base64UrlEncoder.Encode(HMACSHA256.HashData(secret, Encoding.ASCII.GetBytes(signed)))}";
    }

    public static IEnumerable<TestCaseData> Cases() =>
        from route in Routes()
        from kind in new[] { "none", Roles.Reader, Roles.Writer, Roles.Operator, "expired", "not yet valid", "bad signature", "other audience",
            "other issuer", "alg none", "hmac with the public key", "malformed" }
        // What the gateway serves itself has no service behind it.
        from direct in route.Cluster == BadInput.GatewayRoutes.Gateway ? [false] : new[] { false, true }
        select new TestCaseData(route.Name, route.Method, kind, direct)
            .SetName($"{route.Method} {route.Path} ({route.Name}, {route.Policy}) with {kind}{(direct ? ", straight to the service" : "")}");

    [TestCaseSource(nameof(Cases))]
    public async Task Each_route_answers_each_caller_as_its_policy_says(string name, string method, string kind, bool direct)
    {
        var route = Routes().Single(r => r.Name == name && r.Method == method);
        var baseAddress = direct ? Service(route.Cluster).BaseAddress : Stack.LoadBalancer.BaseAddress;
        using var client = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
        using var request = new HttpRequestMessage(new HttpMethod(method), new Uri(route.Path, UriKind.Relative));
        request.Headers.Accept.ParseAdd("application/json");
        if (Tokens.Value[kind] is { } token)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }

        if (method == "POST")
        {
            request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
        }

        using var response = await client.SendAsync(request);
        var status = (int)response.StatusCode;
        var answer = $"{status} {await response.Content.ReadAsStringAsync()}";
        var expected = Expected(route.Policy, kind);
        Assert.Multiple(() =>
        {
            Assert.That(response.Headers.Server, Is.Empty, "no Server header");
            Assert.That(route.Policy, Is.AnyOf(Policies.Anonymous, Policies.Read, Policies.Write, Policies.Operate), "every route names its policy");
            if (expected is { } refused)
            {
                Assert.That(status, Is.EqualTo(refused), answer);
                Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"), answer);
                if (refused == 401)
                {
                    Assert.That(response.Headers.WwwAuthenticate.Select(h => h.Scheme), Does.Contain("Bearer"), "WWW-Authenticate: Bearer");
                }
            }
            else
            {
                Assert.That(status, Is.Not.AnyOf(401, 403).And.LessThan(500), answer);
            }
        });
    }

    /// <summary>401 or 403 when the caller may not; null when it may (whatever the route then says about the request).</summary>
    private static int? Expected(string policy, string kind) =>
        policy == Policies.Anonymous ? null
        : !Roles.All.Contains(kind) ? 401
        : Policies.RolesOf(policy).Contains(kind) ? null
        : 403;

    private ServiceProcess Service(string cluster) => cluster switch
    {
        "producer" => Stack.Producer,
        "balances" => Stack.Balances,
        "statistics" => Stack.Statistics,
        "replay" => Stack.Replay,
        "monitor" => Stack.Monitor,
        _ => throw new ArgumentOutOfRangeException(nameof(cluster), cluster, "No such service."),
    };

    [Test]
    public async Task A_console_page_without_a_token_goes_to_the_sign_in_page_and_comes_back_after_it()
    {
        using var handler = new HttpClientHandler { AllowAutoRedirect = false, UseCookies = true };
        using var client = new HttpClient(handler) { BaseAddress = Stack.LoadBalancer.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        using var page = new HttpRequestMessage(HttpMethod.Get, new Uri("/console/replays", UriKind.Relative));
        page.Headers.Accept.ParseAdd("text/html");
        using var redirected = await client.SendAsync(page);
        Assert.That(redirected.StatusCode, Is.EqualTo(HttpStatusCode.Redirect));
        Assert.That(redirected.Headers.Location?.OriginalString, Is.EqualTo("/console/sign-in?returnUrl=%2Fconsole%2Freplays"));

        var form = await client.GetStringAsync(redirected.Headers.Location);
        var antiforgery = AntiforgeryToken().Match(form).Groups[1].Value;
        using var refused = await client.PostAsync(new Uri("/console/sign-in", UriKind.Relative), new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["token"] = Tokens.Value["expired"]!, ["returnUrl"] = "/console/replays", ["__RequestVerificationToken"] = antiforgery,
        }));
        using var signedIn = await client.PostAsync(new Uri("/console/sign-in", UriKind.Relative), new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["token"] = Tokens.Value[Roles.Reader]!, ["returnUrl"] = "/console/replays", ["__RequestVerificationToken"] = antiforgery,
        }));
        var cookie = signedIn.Headers.TryGetValues("Set-Cookie", out var cookies) ? cookies.Single(c => c.StartsWith("eventreplay_token=", StringComparison.Ordinal)) : "";
        using var back = await client.GetAsync(signedIn.Headers.Location);
        Assert.Multiple(async () =>
        {
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), "an expired token is not taken");
            Assert.That(await refused.Content.ReadAsStringAsync(), Does.Contain("not accepted"));
            Assert.That(signedIn.StatusCode, Is.EqualTo(HttpStatusCode.Redirect));
            Assert.That(signedIn.Headers.Location?.OriginalString, Is.EqualTo("/console/replays"), "back where it was going");
            Assert.That(cookie, Does.Contain("httponly").IgnoreCase.And.Contain("samesite=strict").IgnoreCase.And.Contain("path=/console"));
            Assert.That(back.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(await back.Content.ReadAsStringAsync(), Does.Contain("matrix reader (reader)"), "who is signed in");
        });
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryToken();
}
