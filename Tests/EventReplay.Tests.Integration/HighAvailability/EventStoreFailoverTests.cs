using System.Collections.Concurrent;
using System.Diagnostics;
using EventReplay.Tests.Integration.Infrastructure;
using EventReplay.Tests.Integration.Pipeline;

namespace EventReplay.Tests.Integration.HighAvailability;

/// <summary>
/// The event store as a pg_auto_failover formation (a monitor, a primary and a synchronous secondary) under a load of
/// commands: the primary killed with SIGKILL, and a planned switchover. The services reach it through Npgsql's
/// multi-host connection string alone; the read models, broker and Redis are the tests' shared ones. The primary, whichever
/// node it is, archives its WAL with pgBackRest.
/// </summary>
[NonParallelizable]
public class EventStoreFailoverTests
{
    private static readonly TimeSpan Recover = TimeSpan.FromMinutes(2);

    private readonly PostgresFormation _formation = new(backups: true);
    private ServiceStack _stack = null!;

    private SystemDatabases Databases => TestEnvironment.Databases with { EventStore = _formation.ConnectionString };

    private ProducerApi Api => _stack.Api;

    [OneTimeSetUp]
    public async Task StartTheSystemOnAFormation()
    {
        await _formation.StartAsync();
        await Broker.PurgeAsync();
        await PipelineState.ResetWithEmptyLogAsync(Databases, TestEnvironment.RedisConnectionString);
        _stack = await ServiceStack.StartedAsync(eventStore: _formation.ConnectionString);
    }

    [OneTimeTearDown]
    public async Task StopTheSystem()
    {
        if (_stack is not null)
        {
            await _stack.DisposeAsync();
        }

        _formation.KeepLogs = TestContext.CurrentContext.Result.FailCount > 0;
        await _formation.DisposeAsync();
        await Broker.PurgeAsync();
    }

    [Test]
    public async Task A_backup_taken_under_load_before_a_switchover_restores_everything_written_after_it()
    {
        await using var load = CommandLoad.Start(Api, new LoadOptions { Workers = 2 });
        await load.WaitForMoreAsync(50, "the load under way");
        var backup = await Backups.BackupAsync(_formation.BackupConfig, "full");
        var before = await _formation.PrimaryAsync();
        await _formation.SwitchoverAsync();
        await load.WaitForMoreAsync(100, "commands accepted after the switchover", Recover);
        await load.StopAsync();

        // The new primary archives on a timeline of its own, which the backup taken on the old one restores through.
        await using var restored = await Backups.RestoreAsync(_formation.BackupConfig, _formation.Directory, "--latest");
        var original = await StoredEvents.SummaryAsync(_formation.ConnectionString);
        await TestContext.Out.WriteLineAsync($"full backup on {before} under load in {backup["took"]} ({backup["stored"]}); after a switchover to "
            + $"{await _formation.PrimaryAsync()} and {load.Describe()}: restored {restored.Printed["events"]} events up to position "
            + $"{restored.Printed["position"]} in {restored.Printed["took"]}");
        Assert.That((restored.Printed["position"], restored.Printed["events"], restored.Printed["checksum"]), Is.EqualTo(original),
            "the restored events equal the formation's");
    }

    [Test]
    public async Task The_primary_killed_with_kill_9_during_a_burst_of_commands_loses_no_acknowledged_command()
    {
        var attempts = new ConcurrentQueue<Attempt>();
        await using var load = CommandLoad.Start(Api, new LoadOptions { Workers = 4, Observe = attempts.Enqueue });
        await load.WaitForMoreAsync(100, "the load under way");

        var primary = await _formation.PrimaryAsync();
        await _formation.Kill9Async(primary);
        var killed = DateTimeOffset.UtcNow; // the script returns once every process of the node is dead
        await load.WaitForMoreAsync(200, "commands accepted after the failover", Recover);
        var promoted = await Eventually.Until(_formation.PrimaryAsync, node => node.Length > 0, Recover, "a node to take writes");
        var caughtUp = await FaultRecovery.CatchUpAsync(Databases, Recover);
        await load.StopAsync();
        await TestContext.Out.WriteLineAsync(await _formation.EventsAsync());

        // RTO: from the kill to the first command that was sent after it and accepted.
        var firstAccepted = attempts.Where(a => a.Route != CommandLoad.ReadRoute && a.Started > killed && a.Status is >= 200 and < 300)
            .Min(a => a.Ended);
        var refusedMeanwhile = attempts.Count(a => a.Route != CommandLoad.ReadRoute && a.Started > killed && a.Ended <= firstAccepted);
        await TestContext.Out.WriteLineAsync($"RTO {(firstAccepted - killed).TotalSeconds:0.0} s: {primary} killed with kill -9, {promoted} promoted; "
            + $"{refusedMeanwhile} command attempts refused or unanswered meanwhile; consumers caught up {caughtUp.TotalSeconds:0.0} s after "
            + $"the load's last command; {load.Describe()}");

        // PostgreSQL logs sequence values ahead: the promoted node may draw positions past a hole, which readers of the
        // log (the publisher, a replay) must step over without waiting for it to fill.
        var positions = (await Api.AllEventsAsync()).Select(e => e.GetProperty("position").GetInt64()).ToList();
        await TestContext.Out.WriteLineAsync($"largest step between two positions in the log: {positions.Zip(positions.Skip(1), (a, b) => b - a).Max()}");
        Assert.That(promoted, Is.Not.EqualTo(primary), "the secondary was promoted");
        await Invariants.AssertAllAsync(Api, load.Ledger, Databases, TestEnvironment.RedisConnectionString);

        // The killed node comes back as the new primary's secondary (pg_rewind): the formation is whole again.
        var rejoin = System.Diagnostics.Stopwatch.StartNew();
        await _formation.RunAsync(primary);
        await _formation.WaitAsync();
        await TestContext.Out.WriteLineAsync($"{primary} back as the secondary {rejoin.Elapsed.TotalSeconds:0.0} s after its keeper was started again");
    }

    [Test]
    public async Task After_an_in_place_restore_to_an_earlier_time_the_formation_is_formed_anew_and_the_read_models_rebuild_themselves()
    {
        await _formation.WaitAsync();
        await using var load = CommandLoad.Start(Api, new LoadOptions { Workers = 2, AccountsPerWorker = 3, CommandsPerSecond = 25 });
        await load.WaitForMoreAsync(20, "commands before the backup", Recover);
        await Backups.BackupAsync(_formation.BackupConfig, "full");
        var t = await Backups.TimeAfterBackupAsync(_formation.ConnectionString, load, Recover);
        await load.WaitForMoreAsync(40, "commands after T", Recover);
        await load.StopAsync();
        await FaultRecovery.CatchUpAsync(Databases, Recover);
        var epochBefore = await Database.TextAsync(_formation.ConnectionString, "select epoch from producer.store_epoch");
        var expected = await StoredEvents.SummaryAsync(_formation.ConnectionString, StoredEvents.CommittedBy, ("t", (object)t));
        var primaryBefore = await _formation.PrimaryAsync();

        var clock = Stopwatch.StartNew();
        var printed = await Backups.RestoreInPlaceAsync(_formation.BackupConfig, "--time", Backups.Format(t));
        var restored = clock.Elapsed;
        var rebuilds = await ReplayApi.AutomaticRebuildsAsync(Api, printed["epoch"]);
        var rebuilt = clock.Elapsed;
        await TestContext.Out.WriteLineAsync($"the formation (primary {primaryBefore}) restored in place to {Backups.Format(t)} in "
            + $"{restored.TotalSeconds:0.0} s ({printed["took"]}; position {printed["position"]}, {printed["events"]} events, epoch "
            + $"{epochBefore} -> {printed["epoch"]}); both read models rebuilt {rebuilt.TotalSeconds:0.0} s after the restore began");
        Assert.Multiple(() =>
        {
            Assert.That((printed["position"], printed["events"], printed["checksum"]), Is.EqualTo(expected), "the restored store");
            Assert.That(printed["epoch"], Is.Not.EqualTo(epochBefore), "the restored store's epoch");
            Assert.That(rebuilds.Select(r => r.GetProperty("status").GetString()), Is.All.EqualTo("completed"), "the automatic rebuilds");
        });
        await _formation.WaitAsync();
        Assert.That(await _formation.PrimaryAsync(), Is.EqualTo("node1"), "formed anew around the restored node1");
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(Api, Databases);
        await Invariants.AssertCacheNotBehindAsync(Databases.ReadModels, TestEnvironment.RedisConnectionString);

        // Commands go on over the restored formation, its standby synchronous again.
        await using var after = CommandLoad.Start(Api, new LoadOptions { Workers = 2, AccountsPerWorker = 3, CommandsPerSecond = 25 });
        await after.WaitForMoreAsync(20, "commands after the restore", Recover);
        await after.StopAsync();
        await FaultRecovery.CatchUpAsync(Databases, Recover);
        await Invariants.AssertAllAsync(Api, after.Ledger, Databases, TestEnvironment.RedisConnectionString);
    }

    [Test]
    public async Task The_primary_commits_only_once_the_standby_has_the_commit()
    {
        await _formation.WaitAsync();
        var standbys = await Database.TextAsync(_formation.ConnectionString, "show synchronous_standby_names");
        var commit = await Database.TextAsync(_formation.ConnectionString, "show synchronous_commit");
        await TestContext.Out.WriteLineAsync($"synchronous_standby_names = {standbys}; synchronous_commit = {commit}");
        Assert.Multiple(() =>
        {
            Assert.That(standbys, Does.StartWith("ANY 1 (").Or.StartWith("FIRST 1 ("), "a synchronous standby named");
            Assert.That(commit, Is.AnyOf("on", "remote_apply"), "a commit waits for the standby's flush");
        });
    }

    [Test]
    public async Task A_planned_switchover_under_load_refuses_commands_only_with_503_and_Retry_After_and_applies_none_twice()
    {
        var attempts = new ConcurrentQueue<Attempt>();
        await using var load = CommandLoad.Start(Api, new LoadOptions { Workers = 4, Observe = attempts.Enqueue });
        await load.WaitForMoreAsync(100, "the load under way");

        var before = await _formation.PrimaryAsync();
        var started = DateTimeOffset.UtcNow;
        await _formation.SwitchoverAsync();
        var took = DateTimeOffset.UtcNow - started;
        await load.WaitForMoreAsync(200, "commands accepted after the switchover", Recover);
        var after = await _formation.PrimaryAsync();
        await FaultRecovery.CatchUpAsync(Databases, Recover);
        await load.StopAsync();
        await TestContext.Out.WriteLineAsync(await _formation.EventsAsync());

        var commands = attempts.Where(a => a.Route != CommandLoad.ReadRoute).ToList();
        var failed = commands.Where(a => a.Status is not (>= 200 and < 300) and not 409).ToList();
        var refusedWell = failed.Count(a => a is { Status: 503, RetryAfter: true });
        await TestContext.Out.WriteLineAsync($"switchover {before} -> {after} in {took.TotalSeconds:0.0} s; {commands.Count} command attempts, "
            + $"{refusedWell} answered 503 with Retry-After, {failed.Count - refusedWell} otherwise; {load.Describe()}");

        Assert.Multiple(() =>
        {
            Assert.That(after, Is.Not.EqualTo(before), "the primary changed");
            Assert.That(failed.Where(a => a is not { Status: 503, RetryAfter: true }).Select(a => $"{a.Route} {a.Status}"), Is.Empty,
                "commands that failed other than with 503 + Retry-After");
        });
        await Invariants.AssertAllAsync(Api, load.Ledger, Databases, TestEnvironment.RedisConnectionString);
    }
}
