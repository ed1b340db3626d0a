using Microsoft.AspNetCore.HttpOverrides;
using Yarp.ReverseProxy.Transforms;

namespace EventReplay.Gateway.Proxy;

/// <summary>
/// What the gateway trusts of the edge in front of it and tells the browser (<c>Edge</c> in configuration).
/// </summary>
public sealed class EdgeOptions
{
    /// <summary>
    /// Networks of the load balancers whose <c>X-Forwarded-For</c> and <c>X-Forwarded-Proto</c> are believed (CIDR);
    /// loopback by default, where eng/run.sh's HAProxy runs. Only the last hop is taken: what the client itself sent
    /// in those headers is never believed.
    /// </summary>
    public string[] TrustedProxies { get; set; } = ["127.0.0.0/8", "::1/128"];

    /// <summary>Origins whose browser pages may call the API (CORS); none unless configured.</summary>
    public string[] AllowedOrigins { get; set; } = [];
}

public static class Edge
{
    // Headers that name a client, its address or a request's origin: the gateway sets its own (X-Forwarded-For,
    // -Proto, -Host, -Prefix, X-Correlation-Id), and the rest are dropped rather than passed on as if it had vouched
    // for them.
    private static readonly string[] Dropped =
    [
        "Forwarded", "X-Real-IP", "X-Client-IP", "True-Client-IP", "X-Original-For", "X-Original-Proto", "X-Original-Host",
        "X-Forwarded-Port", "X-Forwarded-Server", "X-Forwarded-User", "X-Remote-User", "X-Remote-Addr",
    ];

    // What a page of an allowed origin may send and read (its token goes in Authorization; no cookies cross origins).
    private static readonly string[] CorsRequestHeaders =
        ["Authorization", "Content-Type", "Idempotency-Key", "X-Requested-By", "If-None-Match"];

    private static readonly string[] CorsResponseHeaders =
    [
        "X-Correlation-Id", "Retry-After", "Location", "ETag", "X-Data-Stale", "X-Event-Store", "X-Last-Event-Position",
        "X-Last-Event-Age",
    ];

    public static WebApplicationBuilder AddEdge(this WebApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection("Edge").Get<EdgeOptions>() ?? new EdgeOptions();
        builder.Services.Configure<ForwardedHeadersOptions>(forwarded =>
        {
            forwarded.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            forwarded.ForwardLimit = 1;
            forwarded.KnownIPNetworks.Clear();
            forwarded.KnownProxies.Clear();
            foreach (var network in options.TrustedProxies)
            {
                forwarded.KnownIPNetworks.Add(System.Net.IPNetwork.Parse(network));
            }
        });
        builder.Services.AddHsts(hsts =>
        {
            hsts.MaxAge = TimeSpan.FromDays(365);
            hsts.IncludeSubDomains = true;
        });
        builder.Services.AddCors(cors => cors.AddDefaultPolicy(policy =>
        {
            if (options.AllowedOrigins.Length > 0)
            {
                policy.WithOrigins(options.AllowedOrigins).WithMethods("GET", "POST").WithHeaders(CorsRequestHeaders)
                    .WithExposedHeaders(CorsResponseHeaders).SetPreflightMaxAge(TimeSpan.FromMinutes(10));
            }
        }));
        return builder;
    }

    /// <summary>
    /// First in the pipeline: the client's address and scheme as the trusted load balancer saw them (so rate limits
    /// and the audit trail see clients, not the load balancer), HSTS on HTTPS, and CORS for the configured origins only
    /// (a policy with no origins allows none).
    /// </summary>
    public static WebApplication UseEdge(this WebApplication app)
    {
        app.UseForwardedHeaders();
        app.UseHsts();
        app.UseCors();
        return app;
    }

    /// <summary>
    /// On every route: what the client sent in place of the gateway's own headers does not reach a service, and no
    /// service's <c>Server</c> header reaches the client (ours send none; a backend that does is not announced).
    /// </summary>
    public static IReverseProxyBuilder GuardForwardedHeaders(this IReverseProxyBuilder proxy) =>
        proxy.AddTransforms(context =>
        {
            foreach (var header in Dropped)
            {
                context.AddRequestHeaderRemove(header);
            }

            context.AddResponseHeaderRemove("Server", ResponseCondition.Always);
        });
}
