using EventReplay.Contracts.Accounts;
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
    public static WebApplicationBuilder AddEventStore(this WebApplicationBuilder builder)
    {
        builder.Services.AddMarten(options =>
            {
                options.DatabaseSchemaName = EventLogReader.Schema;
                ConfigureEvents(options);
                options.Projections.Snapshot<Account>(SnapshotLifecycle.Inline);
                options.Schema.For<IdempotencyRecord>();
                options.AutoCreateSchemaObjects = AutoCreate.CreateOrUpdate;
                // Commands run in a transaction of ours (see AccountWriter): a retry inside Marten would reuse a
                // transaction that a dropped connection already ended. Failures surface instead, as 503s.
                options.ConfigurePolly(_ => { });
                options.ConfigureWritePolly(_ => { });
            })
            .UseNpgsqlDataSource();
        builder.Services.AddSingleton<AccountWriter>();
        return builder;
    }

    /// <summary>
    /// Creates or updates the event store's tables before the host starts, waiting for PostgreSQL with back-off: a
    /// server still booting, failing over, or too busy to answer within the connect timeout delays the start instead of
    /// ending the process.
    /// </summary>
    public static Task ApplySchemaAsync(this WebApplication app) =>
        DependencyWait.UntilDoneAsync(_ => app.Services.GetRequiredService<IDocumentStore>().Storage.ApplyAllConfiguredChangesToDatabaseAsync(),
            app.Logger, "create the event store's tables", app.Lifetime.ApplicationStopping);

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
