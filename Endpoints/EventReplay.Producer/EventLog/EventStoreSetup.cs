using EventReplay.Contracts.Accounts;
using EventReplay.EventLog;
using EventReplay.Hosting;
using EventReplay.Producer.Accounts;
using EventReplay.Producer.Idempotency;
using JasperFx;
using JasperFx.Events;
using JasperFx.Events.Projections;
using Marten;
using Weasel.Core;

namespace EventReplay.Producer.EventLog;

public static class EventStoreSetup
{
    /// <summary>Marten as the event store: string stream ids, stable event names, camelCase JSON, own schema.</summary>
    public static WebApplicationBuilder AddEventStore(this WebApplicationBuilder builder, SchemaMode schema)
    {
        builder.Services.AddMarten(options =>
            {
                options.DatabaseSchemaName = EventLogReader.Schema;
                ConfigureEvents(options);
                options.Projections.Snapshot<Account>(SnapshotLifecycle.Inline);
                options.Schema.For<IdempotencyRecord>();
                // Only the owner role changes tables (eng/migrate.sh, or a test's stack): the producer's own role may not.
                options.AutoCreateSchemaObjects = schema.Changes() ? AutoCreate.CreateOrUpdate : AutoCreate.None;
                // Commands run in a transaction of ours (see AccountWriter): a retry inside Marten would reuse a
                // transaction that a dropped connection already ended. Failures surface instead, as 503s.
                options.ConfigurePolly(_ => { });
                options.ConfigureWritePolly(_ => { });
            })
            .UseNpgsqlDataSource();
        builder.Services.AddSingleton(builder.Configuration.GetSection("Producer").Get<WriterOptions>() ?? new WriterOptions());
        builder.Services.AddSingleton<AccountWriter>();
        // Started before the warm-up, which sends commands through it.
        builder.Services.AddHostedService(services => services.GetRequiredService<AccountWriter>());
        return builder;
    }

    /// <summary>
    /// Creates or updates the event store's tables (Marten's, the publisher's) where this process changes the schema
    /// (<see cref="DatabaseSchema"/>), before the host starts, waiting for PostgreSQL with back-off: a server still
    /// booting, failing over, or too busy to answer within the connect timeout delays the start instead of ending the
    /// process. True when the process was started to migrate and is done.
    /// </summary>
    public static Task<bool> ApplySchemaAsync(this WebApplication app) =>
        app.ApplySchemaAsync("create the event store's tables", async cancellationToken =>
        {
            await app.Services.GetRequiredService<IDocumentStore>().Storage.ApplyAllConfiguredChangesToDatabaseAsync();
            await using var command = app.Services.GetRequiredService<Npgsql.NpgsqlDataSource>().CreateCommand(Publishing.EventPublisher.TablesSql);
            await command.ExecuteNonQueryAsync(cancellationToken);
        });

    /// <summary>
    /// The events table as the producer writes it: schema, string stream ids, stable event names, headers, JSON. Also
    /// what the benchmark's Marten rebuild reads the same table with.
    /// </summary>
    public static void ConfigureEvents(StoreOptions options)
    {
        options.Events.DatabaseSchemaName = EventLogReader.Schema;
        options.Events.StreamIdentity = StreamIdentity.AsString;
        // Rich appends draw positions before writing, so the appended events know their position.
        options.Events.AppendMode = EventAppendMode.Rich;
        // Headers carry the traceparent of the request that appended each event (see Telemetry).
        options.Events.MetadataConfig.HeadersEnabled = true;
        options.UseSystemTextJsonForSerialization(EnumStorage.AsString, Casing.CamelCase);
        foreach (var (name, type) in AccountEventTypes.All)
        {
            options.Events.MapEventType(type, name);
        }
    }
}
