using EventReplay.Hosting;
using EventReplay.Hosting.Monitoring;
using EventReplay.Monitor.Alerts;
using EventReplay.Monitor.Audit;
using EventReplay.Monitor.Console;
using EventReplay.Monitor.Endpoints;
using EventReplay.Monitor.FailedMessages;
using EventReplay.Monitor.Metrics;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddDatabaseSchema(args);
// What it collects lives with the read models, in its own schema ("monitor").
builder.AddPostgres(Databases.ReadModels);
// Listens to: "monitor.heartbeats" (every process's heartbeats, bound to the "monitoring.heartbeats" exchange),
// "balances.dead", "statistics.dead", "replay.dead" (messages set aside) and "monitor.outcomes" (retried messages
// applied, bound to "monitoring.outcomes"). Reads the replay service's dead-letter table and the consumers' parked
// tables. Sends: retried messages to the queue that takes them.
builder.AddHeartbeats("monitor");
builder.Services.AddSingleton<EndpointStore>();
// The audit trail of operator actions ("audit.entries"): failed-message and console actions here, replays by the replay
// service; GET /api/audit reads it.
builder.Services.AddSingleton<EventReplay.Hosting.Security.AuditLog>();
builder.Services.AddHostedService<HeartbeatCollector>();
// Samples every 5 s, kept a day: queues from RabbitMQ's management API, consumers' lag (the event store's head − their
// checkpoints), and the figures consumers send with their heartbeats.
builder.Services.AddNpgsqlDataSource(builder.PostgresConnectionString(Databases.EventStore), serviceKey: Databases.EventStore);
builder.Services.AddSingleton(services => new EventStoreSource(services.GetRequiredKeyedService<Npgsql.NpgsqlDataSource>(Databases.EventStore)));
builder.Services.AddHttpClient(QueueSampler.HttpClientName, client => QueueSampler.Configure(client, builder.Configuration));
builder.Services.AddSingleton<MetricsStore>();
builder.Services.AddHostedService<QueueSampler>();
builder.Services.Configure<FailedMessageOptions>(builder.Configuration.GetSection("Monitoring:FailedMessages"));
builder.Services.AddSingleton<FailedMessageStore>();
builder.Services.AddSingleton<FailedMessageRetrier>();
builder.Services.AddSingleton<RetryJobStore>();
builder.Services.AddSingleton<RetryJobWorker>();
builder.Services.AddHostedService(services => services.GetRequiredService<RetryJobWorker>());
builder.Services.AddHostedService<DeadLetterCollector>();
builder.Services.AddHostedService<FailedMessageSweeper>();
// Notices to webhooks (Monitoring__Webhooks__0__Url, …): endpoints missing and back, failed messages, failed replays.
// Listens to "monitor.replay-events" (bound to "replay.events").
builder.Services.Configure<AlertOptions>(builder.Configuration.GetSection("Monitoring"));
builder.Services.AddHttpClient(AlertNotifier.HttpClientName);
builder.Services.AddSingleton<AlertNotifier>();
builder.Services.AddHostedService(services => services.GetRequiredService<AlertNotifier>());
builder.Services.AddHostedService<EndpointWatch>();
builder.Services.AddHostedService<ReplayFailureWatch>();
builder.AddPublicApi(ApiTags.Monitoring, ApiTags.FailedMessages, ApiTags.Audit);
// The console (/console/): server-rendered pages, htmx for actions, server-sent events for live parts.
// Readers see every page; what the forms do is for operators (OperatorActions). The sign-in page is open to anyone.
// Signing in: a pasted token, or at the OpenID Connect authority when Auth:Console:ClientId names this console's client.
builder.AddConsoleSignIn();
builder.Services.AddRazorPages(pages =>
{
    pages.Conventions.AuthorizeFolder("/Console", EventReplay.Security.Policies.Read);
    pages.Conventions.AllowAnonymousToPage("/Console/SignIn");
}).AddMvcOptions(mvc => mvc.Filters.Add<OperatorActions>());
builder.Services.AddHttpContextAccessor();
builder.Services.AddTransient<CallersToken>();
builder.Services.AddHttpClient(ReplayApi.HttpClientName, client => ReplayApi.Configure(client, builder.Configuration))
    .AddHttpMessageHandler<CallersToken>();
builder.Services.AddSingleton<ReplayApi>();
builder.Services.AddSingleton<EventFlow>();

var app = builder.Build();
// Where this process changes the schema (DatabaseSchema): the monitor's tables and the audit trail's.
if (await app.ApplySchemaAsync("create the monitor's tables", async token =>
    {
        await app.Services.GetRequiredService<EndpointStore>().EnsureSchemaAsync(token);
        await app.Services.GetRequiredService<FailedMessageStore>().EnsureSchemaAsync(token);
        await app.Services.GetRequiredService<MetricsStore>().EnsureSchemaAsync(token);
        await app.Services.GetRequiredService<EventReplay.Hosting.Security.AuditLog>().EnsureSchemaAsync(token);
    }))
{
    return;
}

// The console's stylesheet and scripts, before anything asks who calls: the sign-in page needs them too.
app.UseStaticFiles(new StaticFileOptions
{
    FileProvider = new Microsoft.Extensions.FileProviders.PhysicalFileProvider(Path.Combine(AppContext.BaseDirectory, "wwwroot")),
});
app.UseServiceDefaults();
app.MapOpenApi().AllowAnonymous();
app.MapDefaultEndpoints();
app.MapMonitoring();
app.MapFailedMessages();
app.MapAudit();
app.MapRazorPages();
app.MapConsoleLive();
app.MapConsoleSignIn();

app.Run();
