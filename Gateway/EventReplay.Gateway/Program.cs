using EventReplay.Gateway.Proxy;
using EventReplay.Hosting;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
// Routes (path and method) and backend clusters live in configuration: see appsettings.json, "ReverseProxy".
builder.Services.AddReverseProxy()
    .LoadFromConfig(builder.Configuration.GetSection("ReverseProxy"))
    .ConfigureHttpClient((_, handler) => handler.ConnectTimeout = TimeSpan.FromSeconds(2));

var app = builder.Build();
app.UseProblemResponses();
app.UseCorrelationId();
app.MapDefaultEndpoints();
app.MapReverseProxy(proxy =>
{
    // Every route: a body over the services' limit is a 413 here, before anything is forwarded.
    proxy.Use(BodyLimit.WithinLimitAsync);
    proxy.Use(ProxyErrors.AsProblemDetailsAsync);
});

app.Run();
