using System.Text.Json;
using System.Text.Json.Serialization;
using EventReplay.Contracts;
using EventReplay.Contracts.Replays;
using EventReplay.Hosting;
using EventReplay.Hosting.Monitoring;
using EventReplay.Replay.Replays;
using JasperFx;
using JasperFx.CodeGeneration;
using JasperFx.Resources;
using Marten;
using RabbitMQ.Client;
using Weasel.Core;
using Wolverine;
using Wolverine.ErrorHandling;
using Wolverine.Marten;
using Wolverine.RabbitMQ;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
var schema = builder.AddDatabaseSchema(args);
// The sagas (and Wolverine's inbox and outbox) live with the read models; events are read from the event store.
builder.AddPostgres(Databases.ReadModels);
builder.Services.AddNpgsqlDataSource(builder.PostgresConnectionString(Databases.EventStore), serviceKey: Databases.EventStore);
builder.AddRabbitMq();
builder.AddHeartbeats("replay");
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton<ReplayLog>();
builder.Services.AddSingleton<ReplayBatchPublisher>();
// Operator actions (start, pause, resume, cancel) go to the audit trail beside the read models ("audit.entries").
builder.Services.AddSingleton<EventReplay.Hosting.Security.AuditLog>();
builder.AddPublicApi(ApiTags.Replays);

// The Replay saga's state and Wolverine's inbox/outbox live in PostgreSQL, schema "replay".
builder.Services.AddMarten(options =>
    {
        options.DatabaseSchemaName = "replay";
        options.UseSystemTextJsonForSerialization(EnumStorage.AsString, Casing.CamelCase);
        options.Schema.For<Replay>().Index(replay => replay.RequestedAt).UseNumericRevisions(true);
        // Only the owner role changes tables (eng/migrate.sh, or a test's stack): the replay service's own role may not.
        options.AutoCreateSchemaObjects = schema.Changes() ? AutoCreate.CreateOrUpdate : AutoCreate.None;
    })
    .UseNpgsqlDataSource()
    .IntegrateWithWolverine();

builder.UseWolverine(options =>
{
    options.ServiceName = "replay";
    // Wolverine's inbox, outbox and node tables: made by the schema step below, never by the running service's own role.
    options.AutoBuildMessageStorageOnStartup = AutoCreate.None;
    // Handlers are generated ahead of time into Internal/Generated (dotnet run -- codegen write; see the README):
    // no compiler at run time, and the first replay does not wait seconds for one.
    options.CodeGeneration.TypeLoadMode = TypeLoadMode.Static;
    // One replay service instance: after a crash it takes over every message the previous process had persisted
    // (inbox, outbox, scheduled timeouts) at once, instead of waiting for a dead node to be detected.
    options.Durability.Mode = DurabilityMode.Solo;
    // No request/reply over the broker (InvokeAsync is local here): without its reply queue, the service's broker user
    // needs no permission beyond its own queues (eng/broker-users.sh).
    options.UseRabbitMq(new Uri(builder.RequiredConnectionString("rabbitmq"))).DisableSystemRequestReplyQueueDeclaration();
    // Commands and answers from any AMQP client: one with a property given twice is dead-lettered, not half-read, and a
    // command's JSON is read as strictly as the body of POST /api/replays (no comments, trailing commas or numbers in strings).
    options.UseSystemTextJsonForSerialization(json =>
    {
        StrictJson.RefuseDuplicates(json);
        json.ReadCommentHandling = JsonCommentHandling.Disallow;
        json.AllowTrailingCommas = false;
        json.NumberHandling = JsonNumberHandling.Strict;
    });
    options.Policies.AutoApplyTransactions();
    options.Policies.UseDurableLocalQueues();
    options.Policies.UseDurableOutboxOnAllSendingEndpoints();
    options.UnknownMessageBehavior = UnknownMessageBehavior.DeadLetterQueue;

    // Listens to: "replay.commands" (StartReplay, PauseReplay, ResumeReplay, CancelReplay from any AMQP client) and
    // "replay.acks" (consumers' ReplayBatchApplied, RebuildCutOverDone, and the saga's own steps). Sends: ReplayBatch,
    // RebuildCutOver and RebuildAbandoned to "{target}.replay" (ReplayBatchPublisher).
    // Publishes: ReplayStarted/Progressed/Completed/Failed/Cancelled to the "replay.events" exchange.
    options.ListenToRabbitQueue(Topology.ReplayCommandsQueue).UseDurableInbox()
        .DeadLetterQueueing(new DeadLetterQueue("replay.commands.dead", DeadLetterQueueMode.WolverineStorage))
        // The four commands only: the service's own steps (SendReplayBatches…) sent here were handled too, a replay with
        // no record. Any other AMQP type is unknown here, so the message is a dead letter.
        .UseInterop((_, mapper) =>
        {
            mapper.MapIncomingProperty(envelope => envelope.MessageType!, (envelope, properties) =>
                envelope.MessageType = ReplayCommands.Names.Contains(properties.Type ?? "") ? properties.Type : $"not a command: {properties.Type}");
            // Who published it: the AMQP user_id alone, which RabbitMQ checks against the connection's user (a header
            // of the same name is not read).
            mapper.MapIncomingProperty(envelope => envelope.UserName!, (envelope, properties) => envelope.UserName = properties.UserId);
        });

    // Everything that moves a running saga (answers and its own steps) goes through one durable, sequential queue:
    // two such messages of one replay are never handled at once, so they never race for its document. (With two
    // sequential queues, answers and steps met on the document often enough that retries dominated.)
    // An answer that cannot be read is kept like an unreadable command (Wolverine's default, RabbitMQ's own dead-letter
    // exchange, is not declared on our queues: the broker dropped such an answer).
    options.ListenToRabbitQueue(Topology.ReplayAcksQueue).UseDurableInbox().Sequential()
        .DeadLetterQueueing(new DeadLetterQueue("replay.acks.dead", DeadLetterQueueMode.WolverineStorage));
    options.PublishMessage<ReplayPlanned>().ToRabbitQueue(Topology.ReplayAcksQueue);
    options.PublishMessage<ReplayBatchesSent>().ToRabbitQueue(Topology.ReplayAcksQueue);
    options.PublishMessage<ReplayCheck>().ToRabbitQueue(Topology.ReplayAcksQueue);
    options.PublishMessage<ReplayFollowed>().ToRabbitQueue(Topology.ReplayAcksQueue);
    options.PublishMessage<CutOverTimeout>().ToRabbitQueue(Topology.ReplayAcksQueue);
    options.PublishMessage<ReplayRefused>().ToRabbitQueue(Topology.ReplayAcksQueue);
    options.PublishMessage<ReplayStarted>().ToRabbitExchange(Topology.ReplayEventsExchange);
    options.PublishMessage<ReplayProgressed>().ToRabbitExchange(Topology.ReplayEventsExchange);
    options.PublishMessage<ReplayCompleted>().ToRabbitExchange(Topology.ReplayEventsExchange);
    options.PublishMessage<ReplayFailed>().ToRabbitExchange(Topology.ReplayEventsExchange);
    options.PublishMessage<ReplayCancelled>().ToRabbitExchange(Topology.ReplayEventsExchange);

    // A command (HTTP or "replay.commands") can still meet a step on the saga document: the loser retries on the fresh version. A store that
    // is down (or a safe head held back) is retried with back-off rather than failing the replay.
    options.OnException<JasperFx.ConcurrencyException>().Or<SagaConcurrencyException>().RetryWithCooldown(
        TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(50),
        TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(400), TimeSpan.FromMilliseconds(800),
        TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(5));
    options.OnException<TimeoutException>().Or<Npgsql.NpgsqlException>().Or<RabbitMQ.Client.Exceptions.BrokerUnreachableException>()
        .RetryWithCooldown(TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(5));
});

// After Marten and Wolverine: it goes through both before the server listens.
builder.Services.AddWarmUp<ReplayWarmUp>();

var app = builder.Build();
// The saga's, Wolverine's and the audit trail's tables, before the host starts (where this process changes the schema:
// DatabaseSchema): PostgreSQL still booting or too busy to answer in time is waited for.
if (await app.ApplySchemaAsync("create the saga's, Wolverine's and the audit trail's tables", async cancellationToken =>
    {
        await app.Services.GetRequiredService<IDocumentStore>().Storage.ApplyAllConfiguredChangesToDatabaseAsync();
        await app.Services.GetRequiredService<Wolverine.Runtime.IWolverineRuntime>().Storage.Admin.MigrateAsync();
        await app.Services.GetRequiredService<EventReplay.Hosting.Security.AuditLog>().EnsureSchemaAsync(cancellationToken);
    }))
{
    return 0;
}

await DependencyWait.UntilDoneAsync(async cancellationToken =>
{
    await using var connection = await app.Services.GetRequiredService<IConnectionFactory>().CreateConnectionAsync(cancellationToken);
    await app.Services.GetRequiredService<BrokerTopology>().DeclareAsync(connection, BrokerTopology.ReplayOwns, cancellationToken);
}, app.Logger, "declare the queues", app.Lifetime.ApplicationStopping);

app.UseServiceDefaults();
app.MapOpenApi().AllowAnonymous();
app.MapDefaultEndpoints();
app.MapReplays();

return await app.RunJasperFxCommands(args);
