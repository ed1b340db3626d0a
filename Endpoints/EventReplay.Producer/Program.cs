using System.Text.Json.Serialization;
using EventReplay.Hosting;
using EventReplay.Hosting.Monitoring;
using EventReplay.Producer.Accounts;
using EventReplay.Producer.EventLog;
using EventReplay.Producer.Publishing;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
var schema = builder.AddDatabaseSchema(args);
builder.AddPostgres(Databases.EventStore);
builder.AddEventStore(schema);
builder.AddPublishing();
builder.AddHeartbeats("producer");
// After the event store: it goes through Marten before the server listens.
builder.Services.AddWarmUp<AccountWarmUp>();
builder.AddPublicApi(ApiTags.Accounts, ApiTags.EventStore);

var app = builder.Build();
if (await app.ApplySchemaAsync())
{
    return;
}

app.UseServiceDefaults();
app.MapOpenApi().AllowAnonymous();
app.MapDefaultEndpoints();

// Write side: account commands become events in the store.
app.MapAccounts();
// Read side of the store: the log in position order, and single streams.
app.MapEventLog();
// Sends: every committed event, in position order, to the RabbitMQ exchange "events" (EventPublisher).

await app.RunAsync();

public partial class Program;
