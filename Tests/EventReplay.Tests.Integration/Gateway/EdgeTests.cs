using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using EventReplay.Security;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Gateway;

/// <summary>
/// The gateway at the edge: it believes the load balancer's last hop alone (the client's address and scheme), replaces
/// what a client sends in place of its own headers, announces no server, sends HSTS over HTTPS only, and answers CORS
/// for configured origins only. Two gateways (one with an allowed origin, one as shipped) behind HAProxy, their
/// producer route going to a recorder that keeps the headers each request reached it with.
/// </summary>
public sealed class EdgeTests
{
    private const string AllowedOrigin = "https://app.example.test";

    private readonly Recorder _recorder = new();
    private ServiceProcess _open = null!;
    private ServiceProcess _closed = null!;
    private readonly LoadBalancer _loadBalancer = new();

    [OneTimeSetUp]
    public async Task StartGateways()
    {
        _recorder.Start();
        var settings = new Dictionary<string, string>(TestEnvironment.ServiceConnections())
        {
            ["ReverseProxy__Clusters__producer__Destinations__p1__Address"] = _recorder.BaseAddress.ToString(),
        };
        _closed = new ServiceProcess("EventReplay.Gateway", settings);
        _open = new ServiceProcess("EventReplay.Gateway", new Dictionary<string, string>(settings) { ["Edge__AllowedOrigins__0"] = AllowedOrigin });
        await Task.WhenAll(_open.StartAsync(), _closed.StartAsync());
        await _loadBalancer.StartAsync([_closed.Port]);
    }

    [OneTimeTearDown]
    public async Task StopGateways()
    {
        await _loadBalancer.DisposeAsync();
        await _open.DisposeAsync();
        await _closed.DisposeAsync();
        _recorder.Dispose();
    }

    [Test]
    public async Task What_a_client_sends_in_place_of_the_gateways_headers_is_replaced()
    {
        using var client = TestTokens.Authorized(LoopbackClient.From("127.0.0.2", _loadBalancer.BaseAddress), TestTokens.For("edge", Roles.Reader));
        var path = $"/api/streams/acc-{Guid.NewGuid():N}/events";
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add("X-Forwarded-For", "203.0.113.9");
        request.Headers.Add("X-Forwarded-Proto", "https");
        request.Headers.Add("X-Forwarded-Host", "bank.example.test");
        request.Headers.Add("X-Forwarded-Prefix", "/admin");
        request.Headers.Add("Forwarded", "for=203.0.113.9;proto=https");
        request.Headers.Add("X-Real-IP", "203.0.113.9");
        request.Headers.Add("X-Remote-User", "admin");
        request.Headers.Add("X-Correlation-Id", "order-42");

        using var response = await client.SendAsync(request);
        var seen = _recorder.Seen(path);

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(seen.GetValues("X-Forwarded-For"), Is.EqualTo(new[] { "127.0.0.2" }), "the client's own address, as HAProxy saw it");
            Assert.That(seen.GetValues("X-Forwarded-Proto"), Is.EqualTo(new[] { "http" }));
            Assert.That(seen.GetValues("X-Forwarded-Host"), Is.EqualTo(new[] { _loadBalancer.BaseAddress.Authority }));
            Assert.That(seen.GetValues("X-Forwarded-Prefix"), Is.Null);
            Assert.That(seen.GetValues("Forwarded"), Is.Null);
            Assert.That(seen.GetValues("X-Real-IP"), Is.Null);
            Assert.That(seen.GetValues("X-Remote-User"), Is.Null);
            Assert.That(seen.GetValues("X-Correlation-Id"), Is.Not.Null.And.Not.EqualTo(new[] { "order-42" }));
            Assert.That(response.Headers.GetValues("X-Correlation-Id"), Is.EqualTo(seen.GetValues("X-Correlation-Id")),
                "the gateway's id, to the service and back to the client");
            Assert.That(response.Headers.Server, Is.Empty, "the recorder's Server header is not passed on");
        });
    }

    [Test]
    public async Task A_connection_a_client_leaves_idle_for_longer_than_a_request_may_take_is_kept_for_its_next_request()
    {
        var connections = 0;
        using var client = TestTokens.Authorized(
            LoopbackClient.From("127.0.0.1", _loadBalancer.BaseAddress, connected: () => Interlocked.Increment(ref connections)),
            TestTokens.For("edge", Roles.Reader));
        var path = $"/api/streams/acc-{Guid.NewGuid():N}/events";
        using var first = await client.GetAsync(new Uri(path, UriKind.Relative));

        // The idle time is what is tested: longer than HAProxy's 10-s request timeout, which was once its keep-alive
        // too, so that it closed connections .NET keeps for 60 s and a POST sent just then ended unanswered.
        await Task.Delay(TimeSpan.FromSeconds(11)); // the idle time under test (see above), not synchronisation
        using var second = await client.GetAsync(new Uri(path, UriKind.Relative));

        Assert.Multiple(() =>
        {
            Assert.That(first.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(second.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(connections, Is.EqualTo(1), "the second request went on the first one's connection");
        });
    }

    [Test]
    public async Task No_answer_of_the_gateway_names_its_server()
    {
        using var client = TestTokens.Authorized(new HttpClient { BaseAddress = _loadBalancer.BaseAddress }, TestTokens.For("edge", Roles.Reader));
        using var anonymous = new HttpClient { BaseAddress = _loadBalancer.BaseAddress };
        var answers = new List<HttpResponseMessage>
        {
            await client.GetAsync(new Uri("/health", UriKind.Relative)),
            await client.GetAsync(new Uri("/api/nothing", UriKind.Relative)),
            await client.GetAsync(new Uri($"/api/streams/acc-{Guid.NewGuid():N}/events", UriKind.Relative)),
            await anonymous.GetAsync(new Uri("/api/events", UriKind.Relative)),
        };

        Assert.That(answers.Select(answer => $"{(int)answer.StatusCode}: {answer.Headers.Server}"),
            Is.EqualTo(new[] { "200: ", "404: ", "200: ", "401: " }));
        answers.ForEach(answer => answer.Dispose());
    }

    [Test]
    public async Task Hsts_is_sent_when_the_trusted_load_balancer_says_the_client_came_over_https()
    {
        using var direct = new HttpClient { BaseAddress = _closed.BaseAddress };
        using var behindTls = new HttpRequestMessage(HttpMethod.Get, "/health");
        behindTls.Headers.Host = "api.example.test";
        behindTls.Headers.Add("X-Forwarded-Proto", "https");
        using var overHttps = await direct.SendAsync(behindTls);

        using var plain = new HttpRequestMessage(HttpMethod.Get, "/health");
        plain.Headers.Host = "api.example.test";
        using var overHttp = await direct.SendAsync(plain);

        // Through HAProxy, which serves plain HTTP: what the client claims is replaced by HAProxy's own.
        using var throughLb = new HttpClient { BaseAddress = _loadBalancer.BaseAddress };
        using var claimed = new HttpRequestMessage(HttpMethod.Get, "/health");
        claimed.Headers.Host = "api.example.test";
        claimed.Headers.Add("X-Forwarded-Proto", "https");
        using var claimedHttps = await throughLb.SendAsync(claimed);

        Assert.Multiple(() =>
        {
            Assert.That(overHttps.Headers.GetValues("Strict-Transport-Security"), Is.EqualTo(new[] { "max-age=31536000; includeSubDomains" }));
            Assert.That(overHttp.Headers.Contains("Strict-Transport-Security"), Is.False);
            Assert.That(claimedHttps.Headers.Contains("Strict-Transport-Security"), Is.False);
        });
    }

    [Test]
    public async Task Cors_answers_a_configured_origin_only()
    {
        using var open = new HttpClient { BaseAddress = _open.BaseAddress };
        using var closed = new HttpClient { BaseAddress = _closed.BaseAddress };

        using var allowed = await open.SendAsync(Preflight(AllowedOrigin));
        using var other = await open.SendAsync(Preflight("https://evil.example.test"));
        using var shipped = await closed.SendAsync(Preflight(AllowedOrigin));
        using var read = new HttpRequestMessage(HttpMethod.Get, $"/api/streams/acc-{Guid.NewGuid():N}/events");
        read.Headers.Add("Origin", AllowedOrigin);
        read.Headers.Authorization = new AuthenticationHeaderValue("Bearer", TestTokens.For("edge", Roles.Reader));
        using var answered = await open.SendAsync(read);

        Assert.Multiple(() =>
        {
            Assert.That(allowed.StatusCode, Is.EqualTo(HttpStatusCode.NoContent));
            Assert.That(allowed.Headers.GetValues("Access-Control-Allow-Origin"), Is.EqualTo(new[] { AllowedOrigin }));
            Assert.That(string.Join(",", allowed.Headers.GetValues("Access-Control-Allow-Headers")).ToLowerInvariant(),
                Does.Contain("authorization").And.Contain("idempotency-key"));
            Assert.That(allowed.Headers.Contains("Access-Control-Allow-Credentials"), Is.False, "tokens, not cookies");
            Assert.That(other.Headers.Contains("Access-Control-Allow-Origin"), Is.False);
            Assert.That(shipped.Headers.Contains("Access-Control-Allow-Origin"), Is.False, "closed unless configured");
            Assert.That(answered.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(answered.Headers.GetValues("Access-Control-Allow-Origin"), Is.EqualTo(new[] { AllowedOrigin }));
            Assert.That(string.Join(",", answered.Headers.GetValues("Access-Control-Expose-Headers")), Does.Contain("X-Correlation-Id"));
        });
    }

    private static HttpRequestMessage Preflight(string origin)
    {
        var request = new HttpRequestMessage(HttpMethod.Options, "/api/accounts");
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", "POST");
        request.Headers.Add("Access-Control-Request-Headers", "authorization,content-type,idempotency-key");
        return request;
    }

    /// <summary>A backend that answers 200 with a Server header and keeps each path's request headers.</summary>
    private sealed class Recorder : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly ConcurrentDictionary<string, WebHeaderCollection> _seen = new();

        public Uri BaseAddress { get; } = new($"http://127.0.0.1:{TestEnvironment.FreePort()}/");

        public void Start()
        {
            _listener.Prefixes.Add(BaseAddress.ToString());
            _listener.Start();
            _ = Task.Run(async () =>
            {
                while (_listener.IsListening)
                {
                    HttpListenerContext context;
                    try
                    {
                        context = await _listener.GetContextAsync();
                    }
                    catch (Exception) when (!_listener.IsListening)
                    {
                        return;
                    }

                    var headers = new WebHeaderCollection();
                    foreach (var name in context.Request.Headers.AllKeys.OfType<string>())
                    {
                        foreach (var value in context.Request.Headers.GetValues(name) ?? [])
                        {
                            headers.Add(name, value);
                        }
                    }

                    _seen[context.Request.Url!.AbsolutePath] = headers;
                    context.Response.StatusCode = 200;
                    context.Response.ContentType = "application/json";
                    context.Response.Headers["Server"] = "recorder/1.0";
                    await context.Response.OutputStream.WriteAsync("[]"u8.ToArray());
                    context.Response.Close();
                }
            });
        }

        public WebHeaderCollection Seen(string path) =>
            _seen.TryGetValue(path, out var headers) ? headers : throw new AssertionException($"{path} did not reach the backend");

        public void Dispose() => _listener.Close();
    }
}
