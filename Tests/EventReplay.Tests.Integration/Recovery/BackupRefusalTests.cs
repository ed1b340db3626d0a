using System.Globalization;
using System.Text.Json;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Recovery;

/// <summary>
/// eng/backup.sh and eng/restore.sh refuse bad arguments (exit 2) and targets outside the backups (exit 1) with a
/// message that says why, before anything is stopped or written: the server keeps running as it was (the same
/// postmaster), no restore directory appears and the backups stay as they were.
/// </summary>
public class BackupRefusalTests
{
    private readonly PostgresInstance _server = new(archive: true);
    private string _label = "";

    [OneTimeSetUp]
    public async Task StartAnArchivingServerWithOneBackup()
    {
        await _server.StartAsync();
        _label = (await Backups.BackupAsync(_server, "full"))["label"];
    }

    [OneTimeTearDown]
    public async Task StopTheServer() => await _server.DisposeAsync();

    [TestCase("restore.sh", new string[0], 2, "name a target: --time T, --lsn L or --latest")]
    [TestCase("restore.sh", new[] { "--time", "2026-01-01", "--lsn", "0/1" }, 2, "one target only")]
    [TestCase("restore.sh", new[] { "--time", "not-a-time" }, 2, "--time 'not-a-time' is not a timestamp")]
    [TestCase("restore.sh", new[] { "--time" }, 2, "--time needs a value")]
    [TestCase("restore.sh", new[] { "--lsn", "12345" }, 2, "--lsn '12345' is not an LSN")]
    [TestCase("restore.sh", new[] { "--latest", "--port", "70000" }, 2, "--port '70000' is not a port")]
    [TestCase("restore.sh", new[] { "--in-place", "--latest", "--port", "{port}" }, 2, "--port is for a restore into a new cluster")]
    [TestCase("restore.sh", new[] { "--latest", "--frobnicate" }, 2, "unknown argument '--frobnicate'")]
    [TestCase("restore.sh", new[] { "--latest", "--database", "x;drop" }, 2, "is not a plain database name")]
    [TestCase("restore.sh", new[] { "--time", "2999-01-01 00:00:00+00" }, 1, "is in the future")]
    [TestCase("restore.sh", new[] { "--time", "2000-01-01 00:00:00+00" }, 1, "is before the end of the oldest backup")]
    [TestCase("restore.sh", new[] { "--in-place", "--time", "2000-01-01 00:00:00+00" }, 1, "is before the end of the oldest backup")]
    [TestCase("restore.sh", new[] { "--lsn", "0/1" }, 1, "is before the end of the oldest backup")]
    [TestCase("restore.sh", new[] { "--lsn", "FFFFFFFF/0" }, 1, "is past the end of the WAL")]
    [TestCase("restore.sh", new[] { "--in-place", "--lsn", "FFFFFFFF/0" }, 1, "is past the end of the WAL")]
    [TestCase("restore.sh", new[] { "--latest", "--port", "{port}" }, 1, "is in use")]
    [TestCase("restore.sh", new[] { "--in-place", "--latest" }, 1, "--in-place --latest while the cluster runs")]
    [TestCase("restore.sh", new[] { "--latest", "--config", "{missing}" }, 1, "no pgBackRest configuration at")]
    [TestCase("restore.sh", new[] { "--latest", "--stanza", "other" }, 1, "has no stanza [other]")]
    [TestCase("backup.sh", new string[0], 2, "name an action: full, diff or info")]
    [TestCase("backup.sh", new[] { "weekly" }, 2, "unknown argument 'weekly'")]
    [TestCase("backup.sh", new[] { "full", "diff" }, 2, "one action only")]
    [TestCase("backup.sh", new[] { "full", "--json" }, 2, "--json goes with info")]
    [TestCase("backup.sh", new[] { "full", "--config", "{missing}" }, 1, "no pgBackRest configuration at")]
    public async Task Bad_arguments_and_targets_outside_the_backups_are_refused_with_a_reason_and_change_nothing(string script, string[] arguments,
        int exitCode, string reason)
    {
        var directory = Path.Combine(_server.Directory, "restore-" + Guid.NewGuid().ToString("N")[..6]);
        var postmaster = await PostmasterAsync();
        var backups = await BackupLabelsAsync();
        var given = arguments.Select(argument => argument
            .Replace("{port}", _server.Port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("{missing}", Path.Combine(_server.Directory, "missing.conf"), StringComparison.Ordinal)).ToList();

        // The test server's configuration and a restore directory of its own go first: a case's last argument stays last.
        var server = new List<string>();
        if (!given.Contains("--config"))
        {
            server.AddRange(["--config", _server.BackupConfig]);
        }

        if (script == "restore.sh" && !given.Contains("--in-place"))
        {
            server.AddRange(["--dir", directory]);
        }

        var result = await Scripts.ResultAsync(script, [.. server, .. given]);
        var postmasterAfter = await PostmasterAsync();
        var backupsAfter = await BackupLabelsAsync();

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(exitCode), result.Error);
            Assert.That(result.Error, Does.Contain(reason));
            Assert.That(result.Output, Is.Empty, "nothing printed as if restored or backed up");
            Assert.That(Directory.Exists(directory), Is.False, "a restore directory");
            Assert.That(postmasterAfter, Is.EqualTo(postmaster), "the server's postmaster (never stopped or restarted)");
            Assert.That(backupsAfter, Is.EqualTo(backups), "the backups");
        });
    }

    [Test]
    public async Task Info_lists_the_backups_kept_and_the_repository()
    {
        var info = await Scripts.OutputAsync("backup.sh", "info", "--config", _server.BackupConfig);

        Assert.That(info, Does.Contain($"full backup: {_label}").And.Contain($"repository: {Path.Combine(_server.Directory, "backups")}"));
    }

    [Test]
    public async Task A_restore_before_any_backup_was_taken_is_refused()
    {
        await using var server = new PostgresInstance(archive: true);
        await server.StartAsync();
        var directory = Path.Combine(server.Directory, "restore");

        var result = await Scripts.ResultAsync("restore.sh", "--latest", "--config", server.BackupConfig, "--dir", directory);

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(1), result.Error);
            Assert.That(result.Error, Does.Contain("no backup in").And.Contain("take one with eng/backup.sh full"));
            Assert.That(Directory.Exists(directory), Is.False);
        });
    }

    /// <summary>The server's postmaster: its pid and start time, as its postmaster.pid names them, and whether it answers.</summary>
    private async Task<string> PostmasterAsync()
    {
        var lines = await File.ReadAllLinesAsync(Path.Combine(_server.Directory, "data", "postmaster.pid"));
        var answers = await Database.ScalarAsync(_server.ConnectionString, "select 1") == 1;
        return $"pid {lines[0]} started {lines[2]}, answering: {answers}";
    }

    private async Task<List<string>> BackupLabelsAsync()
    {
        using var info = JsonDocument.Parse(await Scripts.OutputAsync("backup.sh", "info", "--json", "--config", _server.BackupConfig));
        return [.. info.RootElement[0].GetProperty("backup").EnumerateArray().Select(backup => backup.GetProperty("label").GetString()!)];
    }
}
