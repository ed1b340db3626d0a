using EventReplay.Hosting;
using EventReplay.Hosting.Monitoring;
using EventReplay.Monitor.Endpoints;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
// What it collects lives with the read models, in its own schema ("monitor").
builder.AddPostgres(Databases.ReadModels);
// Listens to: "monitor.heartbeats" (every process's heartbeats, bound to the "monitoring.heartbeats" exchange).
builder.AddHeartbeats("monitor");
builder.Services.AddSingleton<EndpointStore>();
builder.Services.AddHostedService<HeartbeatCollector>();
builder.Services.AddOpenApi();

var app = builder.Build();
await DependencyWait.UntilDoneAsync(token => app.Services.GetRequiredService<EndpointStore>().EnsureSchemaAsync(token), app.Logger,
    "create the monitor's tables", app.Lifetime.ApplicationStopping);
app.UseServiceDefaults();
app.MapOpenApi();
app.MapDefaultEndpoints();
app.MapMonitoring();

app.Run();
