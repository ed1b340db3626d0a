using EventReplay.Consumers.Balances.Balances;
using EventReplay.Consumers.Balances.Live;
using EventReplay.Hosting;
using EventReplay.Hosting.Monitoring;
using EventReplay.Messaging;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
// Listens to: "balances.live" (every committed event, in position order) and "balances.replay" (replay batches,
// rebuild cut-overs); answers replays on "replay.acks"; dead letters to "balances.dead".
builder.AddLiveConsumer<BalancesHandler>("balances");
builder.AddHeartbeats("balances");
builder.Services.AddSingleton<BalanceStore>();
builder.Services.AddSingleton<BalanceCache>();
builder.Services.AddWarmUp<BalanceWarmUp>();
builder.AddPublicApi(ApiTags.Accounts);

var app = builder.Build();
await app.StartReadModelAsync();
app.UseServiceDefaults();
app.MapOpenApi().AllowAnonymous();
app.MapDefaultEndpoints();

// Read side: one account's balance, from Redis first and PostgreSQL on a miss.
app.MapBalances();

app.Run();
