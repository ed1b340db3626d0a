using System.Diagnostics;
using EventReplay.Contracts.Accounts;
using JasperFx;
using JasperFx.Events;
using JasperFx.Events.Projections;
using Marten;
using Marten.Events.Aggregation;
using EventReplay.Producer.EventLog;
using Weasel.Core;

namespace EventReplay.Benchmarks;

/// <summary>An account's balance as a Marten document: the columns of the balances read model.</summary>
public sealed class MartenBalance
{
    public string Id { get; set; } = "";

    public string Owner { get; set; } = "";

    public decimal Balance { get; set; }

    public string Status { get; set; } = "";

    public long Version { get; set; }

    public long Position { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>The balances read model as Marten's own single-stream projection, for comparison.</summary>
public sealed class MartenBalanceProjection : SingleStreamProjection<MartenBalance, string>
{
    public const string ProjectionName = "BenchBalances";

    public MartenBalanceProjection() => Name = ProjectionName;

    public static MartenBalance Create(IEvent<AccountOpened> e) =>
        new() { Id = e.StreamKey!, Owner = e.Data.Owner, Status = "open", Version = e.Version, Position = e.Sequence, UpdatedAt = e.Timestamp };

    public static void Apply(IEvent<FundsDeposited> e, MartenBalance balance)
    {
        balance.Balance += e.Data.Amount;
        Moved(e, balance);
    }

    public static void Apply(IEvent<FundsWithdrawn> e, MartenBalance balance)
    {
        balance.Balance -= e.Data.Amount;
        Moved(e, balance);
    }

    public static void Apply(IEvent<AccountClosed> e, MartenBalance balance)
    {
        balance.Status = "closed";
        Moved(e, balance);
    }

    private static void Moved(IEvent e, MartenBalance balance) =>
        (balance.Version, balance.Position, balance.UpdatedAt) = (e.Version, e.Sequence, e.Timestamp);
}

/// <summary>
/// What a Marten user would run instead of our replay: the async daemon's rebuild of an equivalent projection,
/// in process, over the same events table (the producer's Marten configuration), into schema <see cref="Schema"/>.
/// </summary>
public static class MartenRebuild
{
    public const string Schema = "bench_marten";

    public const string Table = Schema + ".mt_doc_martenbalance";

    /// <summary>The store the rebuilds run in: one per process, so that repeated rebuilds run warm, as an application's would.</summary>
    public static async Task<DocumentStore> OpenAsync(string postgres)
    {
        var store = DocumentStore.For(options =>
        {
            options.Connection(postgres);
            options.DatabaseSchemaName = Schema;
            EventStoreSetup.ConfigureEvents(options); // the producer's own events table, read as the producer wrote it
            options.Projections.Add<MartenBalanceProjection>(ProjectionLifecycle.Async);
            options.AutoCreateSchemaObjects = AutoCreate.CreateOrUpdate;
        });
        await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync();
        return store;
    }

    /// <summary>Rebuilds the projection; <paramref name="done"/> is called when it ends, before the daemon stops.</summary>
    public static async Task<TimeSpan> RunAsync(DocumentStore store, Action done)
    {
        using var daemon = await store.BuildProjectionDaemonAsync();
        var clock = Stopwatch.StartNew();
        await daemon.RebuildProjectionAsync(MartenBalanceProjection.ProjectionName, TimeSpan.FromMinutes(60), CancellationToken.None);
        var elapsed = clock.Elapsed;
        done();
        return elapsed;
    }
}
