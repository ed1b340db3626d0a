using EventReplay.Consumers.Statistics.Live;
using EventReplay.Consumers.Statistics.Statistics;
using EventReplay.Hosting;
using EventReplay.Hosting.Consuming;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
// Listens to: the "statistics.live" queue (every committed event, in position order); dead letters to "statistics.dead".
builder.AddLiveConsumer<StatisticsHandler>("statistics");
builder.Services.AddSingleton<StatisticsStore>();
builder.Services.AddOpenApi();

var app = builder.Build();
await app.Services.GetRequiredService<StatisticsStore>().EnsureSchemaAsync(CancellationToken.None);
app.UseServiceDefaults();
app.MapOpenApi();
app.MapDefaultEndpoints();

// Read side: totals over every account, from Redis first and PostgreSQL on a miss.
app.MapStatistics();

app.Run();
