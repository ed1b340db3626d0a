
namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>
/// A PostgreSQL server of the test's own (eng/postgres-instance.sh), so a test can stop it without touching anyone else.
/// With <paramref name="archive"/> its WAL is archived into a pgBackRest repository of its own, as the event store's
/// cluster does, for eng/backup.sh and eng/restore.sh (given <see cref="BackupConfig"/>).
/// </summary>
public sealed class PostgresInstance(bool archive = false) : IAsyncDisposable
{
    public string Directory { get; } = Path.Combine(TestEnvironment.RepoRoot, ".local", "test-postgres", Guid.NewGuid().ToString("N")[..8]);

    public int Port { get; } = TestEnvironment.FreePort();

    /// <summary>The pgBackRest configuration of an archiving server (stanza <c>eventstore</c>).</summary>
    public string BackupConfig => Path.Combine(Directory, "pgbackrest", "pgbackrest.conf");

    public string ConnectionString =>
        $"Host=127.0.0.1;Port={Port};Database=eventreplay;Username=eventreplay;Timeout=3;Command Timeout=4";

    /// <summary>
    /// Starts the server (again). The test's own pooled connections to an earlier run of it died with that run: they are
    /// dropped, so the next query opens a fresh one instead of failing on a dead one (57P01).
    /// </summary>
    public async Task StartAsync()
    {
        await RunAsync("start");
        DropPooledConnections();
    }

    /// <summary>Drops the test's pooled connections to the server, after something other than <see cref="StartAsync"/> restarted it.</summary>
    public void DropPooledConnections()
    {
        using var connection = new Npgsql.NpgsqlConnection(ConnectionString);
        Npgsql.NpgsqlConnection.ClearPool(connection);
    }

    public Task StopAsync() => RunAsync("stop");

    /// <summary>An immediate shutdown (pg_ctl -m immediate): no checkpoint, connections drop, crash recovery at the next start.</summary>
    public Task KillAsync() => RunAsync("kill");

    /// <summary>SIGKILL of the postmaster and every server process at once, as the OOM killer or a killed container does.</summary>
    public Task Kill9Async() => RunAsync("kill9");

    /// <summary>Freezes the server: connections stay open and nothing answers, like a hung host.</summary>
    public Task PauseAsync() => RunAsync("pause");

    public Task ResumeAsync() => RunAsync("resume");

    /// <summary>
    /// Every commit waits for a synchronous standby that never answers, as on a primary whose standby was promoted away
    /// from it; <see cref="ForgetStandbyAsync"/> ends that.
    /// </summary>
    public Task AwaitAbsentStandbyAsync() => Scripts.RunAsync("postgres-instance.sh", ["sync-standby", Directory, PortText, "absent_standby"]);

    /// <summary>Commits wait for no standby again; those waiting complete.</summary>
    public Task ForgetStandbyAsync() => Scripts.RunAsync("postgres-instance.sh", ["sync-standby", Directory, PortText]);

    /// <summary>A cold copy of the stopped server's files (one at a time).</summary>
    public Task SnapshotAsync() => RunAsync("snapshot");

    /// <summary>Puts the snapshot back in place of the stopped server's files: the server goes back to that moment.</summary>
    public Task RollBackAsync() => RunAsync("rollback");

    public async ValueTask DisposeAsync()
    {
        try
        {
            await RunAsync("resume");
            await RunAsync("kill");
        }
        catch (InvalidOperationException)
        {
            // Already stopped.
        }

        System.IO.Directory.Delete(Directory, recursive: true);
    }

    private string PortText => Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private Task RunAsync(string action) =>
        Scripts.RunAsync("postgres-instance.sh", [action, Directory, PortText, .. archive ? ["--archive"] : Array.Empty<string>()]);
}
