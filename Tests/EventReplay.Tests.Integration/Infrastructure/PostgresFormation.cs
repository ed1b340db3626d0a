using System.Globalization;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>
/// A pg_auto_failover formation of the test's own (eng/pg-formation.sh): a monitor and two nodes with synchronous
/// replication on free loopback ports, tuned to fail over in about 10 s. With <paramref name="backups"/> its primary
/// archives its WAL into a pgBackRest repository of its own (<see cref="BackupConfig"/>), as the event store's does.
/// </summary>
public sealed class PostgresFormation(bool backups = false) : IAsyncDisposable
{
    private readonly string _directory = Path.Combine(TestEnvironment.RepoRoot, ".local", "test-formation", Guid.NewGuid().ToString("N")[..8]);
    private readonly int[] _ports = [TestEnvironment.FreePort(), TestEnvironment.FreePort(), TestEnvironment.FreePort()];

    /// <summary>Every node, of which Npgsql picks the primary by itself (rechecking a node's role after a second).</summary>
    public string ConnectionString =>
        $"Host=127.0.0.1:{_ports[1]},127.0.0.1:{_ports[2]};Target Session Attributes=primary;Host Recheck Seconds=1;"
        + "Database=eventreplay;Username=eventreplay;Timeout=3;Command Timeout=4";

    /// <summary>The pgBackRest configuration (stanza <c>eventstore</c>, both nodes) for eng/backup.sh and eng/restore.sh.</summary>
    public string BackupConfig => Path.Combine(_directory, "pgbackrest", "pgbackrest.conf");

    /// <summary>Where restores of its backups go (removed with the formation).</summary>
    public string Directory => _directory;

    public Task StartAsync() => Scripts.OutputAsync(
        backups ? new Dictionary<string, string> { ["FORMATION_BACKUP_REPO"] = Path.Combine(_directory, "backups") } : [],
        "pg-formation.sh", Arguments("start"));

    /// <summary>The current primary, node1 or node2.</summary>
    public async Task<string> PrimaryAsync() => (await Scripts.OutputAsync("pg-formation.sh", Arguments("primary"))).Trim();

    /// <summary>SIGKILL of the node's keeper and every server process at once, as a crashed host.</summary>
    public Task Kill9Async(string node) => ScriptAsync("kill9", node);

    /// <summary>Starts the node's keeper again: a node that was killed rejoins as the secondary.</summary>
    public Task RunAsync(string node) => ScriptAsync("run", node);

    /// <summary>Planned: the secondary becomes the primary; returns once the formation has a primary and a secondary again.</summary>
    public Task SwitchoverAsync() => ScriptAsync("switchover");

    /// <summary>Until the formation has a primary and a secondary.</summary>
    public Task WaitAsync() => ScriptAsync("wait");

    /// <summary>The monitor's record of every state change, a line each, oldest first.</summary>
    public Task<string> EventsAsync() => Scripts.OutputAsync("pg-formation.sh", Arguments("events"));

    /// <summary>Keeps the monitor's and the nodes' logs (under .local/test-results) when the formation is disposed.</summary>
    public bool KeepLogs { get; set; }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await ScriptAsync("stop");
        }
        finally
        {
            if (KeepLogs)
            {
                var kept = Path.Combine(TestEnvironment.RepoRoot, ".local", "test-results", "formation-" + Path.GetFileName(_directory));
                System.IO.Directory.Move(Path.Combine(_directory, "logs"), kept);
                foreach (var node in new[] { "node1", "node2" }.Where(node => System.IO.Directory.Exists(Path.Combine(_directory, node, "log"))))
                {
                    System.IO.Directory.Move(Path.Combine(_directory, node, "log"), Path.Combine(kept, node + "-postgres"));
                }
                await TestContext.Out.WriteLineAsync($"the formation's logs: {kept}");
            }

            System.IO.Directory.Delete(_directory, recursive: true);
        }
    }

    private Task ScriptAsync(string action, params string[] node) => Scripts.RunAsync("pg-formation.sh", Arguments(action, node));

    private string[] Arguments(string action, params string[] node) =>
        [action, _directory, .. _ports.Select(port => port.ToString(CultureInfo.InvariantCulture)), .. node];
}
