using System.Diagnostics;
using System.Net;
using EventReplay.Tests.Integration.Infrastructure;
using EventReplay.Tests.Integration.Pipeline;

namespace EventReplay.Tests.Integration.Recovery;

/// <summary>
/// Backups of the event store taken while commands keep flowing (eng/backup.sh), restored to a point in time
/// (eng/restore.sh): the restored store holds exactly the original's events up to that point. The event store is a
/// server of the test's own that archives its WAL as the real one does; the system (or its producer alone) runs on it.
/// </summary>
public class BackupRestoreTests
{
    private static readonly TimeSpan Flow = TimeSpan.FromSeconds(30);

    // A steady trickle of commands rather than as many as the cores allow: the backups and restores share the machine.
    private static readonly LoadOptions Trickle = new() { Workers = 4, AccountsPerWorker = 3, CommandsPerSecond = 25 };

    [Test]
    public async Task A_backup_taken_while_commands_flow_restores_to_a_time_with_exactly_the_events_committed_by_then()
    {
        await using var eventStore = new PostgresInstance(archive: true);
        await using var stack = await SystemOnAsync(eventStore);
        await using var load = CommandLoad.Start(stack.Api, Trickle);
        await load.WaitForMoreAsync(40, "commands before the backup", Flow);

        var before = load.Acknowledged;
        var clock = Stopwatch.StartNew();
        var backup = await Backups.BackupAsync(eventStore, "full");
        var backupTook = clock.Elapsed;
        var duringBackup = load.Acknowledged - before;
        var t = await Backups.TimeAfterBackupAsync(Patient(eventStore), load, Flow);
        var acknowledgedBeforeT = load.Ledger.Acknowledged.ToList();
        await load.WaitForMoreAsync(20, "commands after T", Flow);
        await load.StopAsync();

        // The original's asynchronous archive-push keeps its acknowledgements here; a restore that emptied it stalled
        // the original's archiving for a minute.
        var spool = Path.Combine(eventStore.Directory, "pgbackrest", "spool", "archive", "eventstore");
        var spooling = Directory.Exists(spool);
        clock.Restart();
        await using var restored = await Backups.RestoreAsync(eventStore, "--time", Backups.Format(t));
        var restoreTook = clock.Elapsed;
        var byT = ("t", (object)t);
        var expected = await StoredEvents.RowsAsync(Patient(eventStore), StoredEvents.CommittedBy, byT);
        var expectedSummary = await StoredEvents.SummaryAsync(Patient(eventStore), StoredEvents.CommittedBy, byT);
        var committedAfterT = await StoredEvents.RowsAsync(Patient(eventStore), StoredEvents.CommittedAfter, byT);
        var actual = await StoredEvents.RowsAsync(restored.ConnectionString);
        var missing = Missing(acknowledgedBeforeT, await StoredEvents.PositionsAsync(restored.ConnectionString));

        await TestContext.Out.WriteLineAsync($"full backup {backup["label"]} in {backupTook.TotalSeconds:0.0} s with {duringBackup} commands "
            + $"acknowledged meanwhile; restored {actual.Count} events to T in {restoreTook.TotalSeconds:0.0} s; {committedAfterT.Count} "
            + $"committed after T; {load.Describe()}");
        Assert.Multiple(() =>
        {
            Assert.That(backup["type"], Is.EqualTo("full"));
            Assert.That(duringBackup, Is.GreaterThan(0), "commands acknowledged while the backup ran");
            Assert.That((spooling, Directory.Exists(spool)), Is.EqualTo((true, true)), "the original's archive spool, before and after the restore");
            Assert.That(restored.Printed["target"], Is.EqualTo($"time {Backups.Format(t)}"));
            Assert.That(restored.Printed["backup"], Is.EqualTo(backup["label"]));
            Assert.That(actual, Is.EqualTo(expected), "the restored events are the original's committed by T, in order");
            Assert.That(committedAfterT, Is.Not.Empty, "events committed after T, none of them restored");
            Assert.That(missing, Is.Empty, "commands acknowledged before T that the restored store lacks");
            Assert.That((restored.Printed["position"], restored.Printed["events"], restored.Printed["checksum"]), Is.EqualTo(expectedSummary),
                "the position, count and checksum printed, against the original's events committed by T");
        });
    }

    [Test]
    public async Task A_differential_backup_restores_to_an_LSN_with_exactly_the_events_written_before_it()
    {
        await using var eventStore = new PostgresInstance(archive: true);
        await using var producer = await ProducerOnAsync(eventStore);
        var api = new ProducerApi(producer.CreateClient());
        await using var load = CommandLoad.Start(api, Trickle);
        await load.WaitForMoreAsync(20, "commands before the full backup", Flow);
        var full = await Backups.BackupAsync(eventStore, "full");
        await load.WaitForMoreAsync(20, "commands between the backups", Flow);
        var before = load.Acknowledged;
        var diff = await Backups.BackupAsync(eventStore, "diff");
        var duringBackup = load.Acknowledged - before;
        await load.WaitForMoreAsync(20, "commands after the differential backup", Flow);
        await load.StopAsync();
        var lsn = await Database.TextAsync(Patient(eventStore), "select pg_current_wal_insert_lsn()::text");
        var head = await Database.ScalarAsync(Patient(eventStore), "select max(seq_id) from producer.mt_events");
        var later = ProducerApi.NewAccountId();
        await api.OpenedAsync(later);

        await using var restored = await Backups.RestoreAsync(eventStore, "--lsn", lsn);
        var upToHead = ("head", (object)head);
        var expected = await StoredEvents.RowsAsync(Patient(eventStore), "seq_id <= @head", upToHead);
        var expectedSummary = await StoredEvents.SummaryAsync(Patient(eventStore), "seq_id <= @head", upToHead);
        var actual = await StoredEvents.RowsAsync(restored.ConnectionString);
        var positions = await StoredEvents.PositionsAsync(restored.ConnectionString);

        Assert.Multiple(() =>
        {
            Assert.That(diff["type"], Is.EqualTo("diff"));
            Assert.That(diff["label"], Does.StartWith(full["label"] + "_").And.EndWith("D"), "a differential backup on the full one");
            Assert.That(duringBackup, Is.GreaterThan(0), "commands acknowledged while the differential backup ran");
            Assert.That(restored.Printed["target"], Is.EqualTo($"lsn {lsn}"));
            Assert.That(restored.Printed["backup"], Is.EqualTo(diff["label"]), "restored from the differential backup");
            Assert.That(actual, Is.EqualTo(expected), "the restored events are the original's written before the LSN");
            Assert.That(positions.Keys.Select(key => key.Stream), Does.Not.Contain(later), "the account opened after the LSN");
            Assert.That(Missing(load.Ledger.Acknowledged, positions), Is.Empty, "acknowledged commands the restored store lacks");
            Assert.That((restored.Printed["position"], restored.Printed["events"], restored.Printed["checksum"]), Is.EqualTo(expectedSummary));
        });
    }

    [Test]
    public async Task An_in_place_restore_brings_the_event_store_back_after_its_events_were_destroyed_and_the_system_carries_on()
    {
        await using var eventStore = new PostgresInstance(archive: true);
        await using var producer = await ProducerOnAsync(eventStore);
        var api = new ProducerApi(producer.CreateClient());
        await using var load = CommandLoad.Start(api, Trickle);
        await load.WaitForMoreAsync(20, "commands before the backup", Flow);
        await Backups.BackupAsync(eventStore, "full");
        var t = await Backups.TimeAfterBackupAsync(Patient(eventStore), load, Flow);
        var acknowledgedBeforeT = load.Ledger.Acknowledged.ToList();
        await load.WaitForMoreAsync(20, "commands after T", Flow);
        await load.StopAsync();
        var byT = ("t", (object)t);
        var expected = await StoredEvents.RowsAsync(Patient(eventStore), StoredEvents.CommittedBy, byT);
        var expectedSummary = await StoredEvents.SummaryAsync(Patient(eventStore), StoredEvents.CommittedBy, byT);

        await using (var connection = new Npgsql.NpgsqlConnection(Patient(eventStore)))
        {
            await connection.OpenAsync();
            await Database.ExecuteAsync(connection, "truncate producer.mt_events, producer.mt_streams");
        }

        var printed = await Backups.RestoreInPlaceAsync(eventStore, "--time", Backups.Format(t));
        var actual = await StoredEvents.RowsAsync(Patient(eventStore));
        var missing = Missing(acknowledgedBeforeT, await StoredEvents.PositionsAsync(Patient(eventStore)));
        var id = ProducerApi.NewAccountId();
        var opened = await Eventually.Until(async () =>
        {
            using var response = await api.OpenAsync(id, key: "after-the-restore");
            return response.StatusCode == HttpStatusCode.Created ? (await ProducerApi.BodyAsync(response, 201)).GetProperty("position").GetInt64() : 0;
        }, position => position > 0, Flow, "the producer to append again after the restore");

        Assert.Multiple(() =>
        {
            Assert.That(printed["port"], Is.EqualTo(eventStore.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            Assert.That(printed["data"], Is.EqualTo(Path.Combine(eventStore.Directory, "data")));
            Assert.That(actual, Is.EqualTo(expected), "the event store's events are its events committed by T again");
            Assert.That(missing, Is.Empty, "commands acknowledged before T that the restored store lacks");
            Assert.That((printed["position"], printed["events"], printed["checksum"]), Is.EqualTo(expectedSummary));
            Assert.That(opened, Is.GreaterThan(long.Parse(printed["position"], System.Globalization.CultureInfo.InvariantCulture)),
                "a new command's position follows the restored log");
        });
    }

    [Test]
    public async Task After_an_in_place_restore_to_an_earlier_time_the_read_models_rebuild_themselves_to_the_fold_of_the_restored_store()
    {
        await using var eventStore = new PostgresInstance(archive: true);
        await using var stack = await SystemOnAsync(eventStore);
        var databases = TestEnvironment.Databases with { EventStore = Patient(eventStore) };
        await using var load = CommandLoad.Start(stack.Api, Trickle);
        await load.WaitForMoreAsync(20, "commands before the backup", Flow);
        await Backups.BackupAsync(eventStore, "full");
        var t = await Backups.TimeAfterBackupAsync(Patient(eventStore), load, Flow);
        await load.WaitForMoreAsync(40, "commands after T", Flow);
        await load.StopAsync();
        await FaultRecovery.CatchUpAsync(databases, Flow);
        var epochBefore = await Database.TextAsync(Patient(eventStore), "select epoch from producer.store_epoch");
        var expected = await StoredEvents.SummaryAsync(Patient(eventStore), StoredEvents.CommittedBy, ("t", (object)t));

        // The read models, their cache and the publisher are ahead of the store from here on.
        var clock = Stopwatch.StartNew();
        var printed = await Backups.RestoreInPlaceAsync(eventStore, "--time", Backups.Format(t));
        var restored = clock.Elapsed;
        var rebuilds = await ReplayApi.AutomaticRebuildsAsync(stack.Api, printed["epoch"]);

        var rebuilt = clock.Elapsed;
        await TestContext.Out.WriteLineAsync($"restored in place to {Backups.Format(t)} in {restored.TotalSeconds:0.0} s (position {printed["position"]}, "
            + $"{printed["events"]} events; epoch {epochBefore} -> {printed["epoch"]}); both read models rebuilt {rebuilt.TotalSeconds:0.0} s after the "
            + "restore began: " + string.Join("; ", rebuilds.Select(r => $"{r.GetProperty("replayId")} {r.GetProperty("status")}, "
                + $"{r.GetProperty("eventsApplied")} applied")));
        Assert.Multiple(() =>
        {
            Assert.That((printed["position"], printed["events"], printed["checksum"]), Is.EqualTo(expected), "the restored store");
            Assert.That(printed["epoch"], Is.Not.EqualTo(epochBefore), "the restored store's epoch");
            Assert.That(rebuilds.Select(r => r.GetProperty("status").GetString()), Is.All.EqualTo("completed"), "the automatic rebuilds");
        });
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(stack.Api, databases);
        await Invariants.AssertCacheNotBehindAsync(databases.ReadModels, TestEnvironment.RedisConnectionString);

        // Commands go on over the restored store, reusing positions the old read models had applied.
        await using var after = CommandLoad.Start(stack.Api, Trickle);
        await after.WaitForMoreAsync(20, "commands after the restore", Flow);
        await after.StopAsync();
        await FaultRecovery.CatchUpAsync(databases, Flow);
        await Invariants.AssertAllAsync(stack.Api, after.Ledger, databases, TestEnvironment.RedisConnectionString);
    }

    /// <summary>The event store's server started (archiving) and the whole system on it, over the tests' emptied read models.</summary>
    private static async Task<ServiceStack> SystemOnAsync(PostgresInstance eventStore)
    {
        await StartAsync(eventStore);
        return await ServiceStack.StartedAsync(eventStore: Patient(eventStore));
    }

    /// <summary>The event store's server started (archiving) and the producer alone on it: the write side is all a restore concerns.</summary>
    private static async Task<ServiceProcess> ProducerOnAsync(PostgresInstance eventStore)
    {
        await StartAsync(eventStore);
        var producer = new ServiceProcess("EventReplay.Producer", TestEnvironment.ServiceConnections(eventStore: Patient(eventStore)));
        try
        {
            await producer.StartAsync();
        }
        catch
        {
            await producer.DisposeAsync();
            throw;
        }

        return producer;
    }

    /// <summary>
    /// The event store's connection string for the services and the test's own queries, allowed 15 s to connect instead
    /// of 3: the services all connect for the first time at once, on cores the backups share, and a slow first connection
    /// fails a service's start (it did, twice, at load averages over 12). How fast a request gives up is not what these
    /// tests are about.
    /// </summary>
    private static string Patient(PostgresInstance eventStore) =>
        new Npgsql.NpgsqlConnectionStringBuilder(eventStore.ConnectionString) { Timeout = 15 }.ConnectionString;

    private static async Task StartAsync(PostgresInstance eventStore)
    {
        await eventStore.StartAsync();
        await PipelineState.ResetWithEmptyLogAsync(TestEnvironment.Databases with { EventStore = Patient(eventStore) },
            TestEnvironment.RedisConnectionString);
    }

    private static List<string> Missing(IEnumerable<Acknowledged> acknowledged, Dictionary<(string Stream, long Version), long> positions) =>
        [.. acknowledged.Where(a => positions.GetValueOrDefault((a.AccountId, a.Version)) != a.Position)
            .Select(a => $"{a.AccountId} v{a.Version} {a.Type} at {a.Position}")];
}
