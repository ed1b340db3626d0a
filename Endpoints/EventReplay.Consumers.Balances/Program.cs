using EventReplay.Consumers.Balances.Balances;
using EventReplay.Hosting;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddPostgres();
builder.AddRedis();
builder.Services.AddSingleton<BalanceStore>();
builder.Services.AddSingleton<BalanceCache>();
builder.Services.AddSingleton<PostgresMonitor>();
builder.Services.AddHostedService(services => services.GetRequiredService<PostgresMonitor>());
builder.Services.AddOpenApi();

var app = builder.Build();
await app.Services.GetRequiredService<BalanceStore>().EnsureSchemaAsync(CancellationToken.None);
app.UseServiceDefaults();
app.MapOpenApi();
app.MapDefaultEndpoints();

// Read side: one account's balance, from Redis first and PostgreSQL on a miss.
app.MapBalances();

app.Run();
