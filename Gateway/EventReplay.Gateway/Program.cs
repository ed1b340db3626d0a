using System.Text;
using EventReplay.Gateway.Proxy;
using EventReplay.Hosting;
using EventReplay.Hosting.Monitoring;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddHeartbeats("gateway");
// Per-client limits, named by each route ("RateLimiterPolicy" in appsettings; "RateLimits" for the figures).
builder.AddClientRateLimits();
// Trusted load balancers, HSTS, CORS ("Edge" in configuration).
builder.AddEdge();
// Routes (path and method) and backend clusters live in configuration: see appsettings.json, "ReverseProxy".
builder.Services.AddReverseProxy()
    .LoadFromConfig(builder.Configuration.GetSection("ReverseProxy"))
    .GuardForwardedHeaders()
    .ConfigureHttpClient((_, handler) =>
    {
        handler.ConnectTimeout = TimeSpan.FromSeconds(2);
        // Header values go on as the client sent them (the server read them as UTF-8): HttpClient's default, ASCII only,
        // failed any request with a non-ASCII header value ("Idempotency-Key: ké") with a 502.
        handler.RequestHeaderEncodingSelector = (_, _) => Encoding.UTF8;
    });

// The public contract, merged from the services' own documents (see PublicDocument).
builder.Services.AddHttpClient(nameof(PublicDocument));
builder.Services.AddSingleton<PublicDocument>();

var app = builder.Build();
app.UseEdge();
app.UseProblemResponses();
// The gateway's own for every request (from the trace id, which a caller may carry in traceparent).
app.UseCorrelationId(fromCaller: false);
// Tokens are checked here and again by the service: each route names its policy ("AuthorizationPolicy" in appsettings).
app.UseAuthentication();
// After authentication (a client is its token's subject), before authorization: floods of bad tokens count too.
app.UseRateLimiter();
app.UseAuthorization();
app.MapDefaultEndpoints();
// The gateway's own public route holds bodies to the same limit as the proxied ones (below).
app.UseWhen(context => context.Request.Path.Equals(PublicDocument.Path, StringComparison.OrdinalIgnoreCase),
    own => own.Use(BodyLimit.WithinLimitAsync));
PublicDocument.Map(app);
app.MapReverseProxy(proxy =>
{
    // Every route: a body over the services' limit is a 413 here, before anything is forwarded.
    proxy.Use(BodyLimit.WithinLimitAsync);
    proxy.Use(ProxyErrors.AsProblemDetailsAsync);
});

app.Run();
