using EventReplay.Consumers.Statistics.Live;
using EventReplay.Consumers.Statistics.Statistics;
using EventReplay.Hosting;
using EventReplay.Hosting.Monitoring;
using EventReplay.Messaging;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
// Listens to: "statistics.live" (every committed event, in position order) and "statistics.replay" (replay batches,
// rebuild cut-overs); answers replays on "replay.acks"; dead letters to "statistics.dead".
builder.AddLiveConsumer<StatisticsHandler>("statistics");
builder.AddHeartbeats("statistics");
builder.Services.AddSingleton<StatisticsStore>();
builder.Services.AddWarmUp<StatisticsWarmUp>();
builder.AddPublicApi(ApiTags.Statistics);

var app = builder.Build();
await app.StartReadModelAsync();
app.UseServiceDefaults();
app.MapOpenApi().AllowAnonymous();
app.MapDefaultEndpoints();

// Read side: totals over every account, from Redis first and PostgreSQL on a miss.
app.MapStatistics();

app.Run();
