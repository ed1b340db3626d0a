using System.Globalization;
using Npgsql;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>eng/backup.sh and eng/restore.sh run against a test's archiving server (never the shared event store).</summary>
public static class Backups
{
    /// <summary>A full or differential backup; returns what the script printed (label, type, took, …).</summary>
    public static Task<IReadOnlyDictionary<string, string>> BackupAsync(PostgresInstance server, string type) => BackupAsync(server.BackupConfig, type);

    /// <summary>A full or differential backup of the cluster a pgBackRest configuration names.</summary>
    public static async Task<IReadOnlyDictionary<string, string>> BackupAsync(string config, string type) =>
        Printed(await Scripts.OutputAsync("backup.sh", type, "--config", config));

    /// <summary>Restores into a new cluster in the server's folder, started on a free port; stopped when disposed.</summary>
    public static Task<RestoredCluster> RestoreAsync(PostgresInstance server, params string[] target) =>
        RestoreAsync(server.BackupConfig, server.Directory, target);

    /// <summary>Restores the cluster a pgBackRest configuration names into a new cluster under a folder.</summary>
    public static async Task<RestoredCluster> RestoreAsync(string config, string folder, params string[] target)
    {
        var directory = Path.Combine(folder, "restore-" + Guid.NewGuid().ToString("N")[..6]);
        var output = await Scripts.OutputAsync("restore.sh", [.. target, "--config", config, "--dir", directory]);
        return new RestoredCluster(directory, Printed(output));
    }

    /// <summary>Restores the server itself to the target (stopped, restored, started again); returns what the script printed.</summary>
    public static Task<IReadOnlyDictionary<string, string>> RestoreInPlaceAsync(PostgresInstance server, params string[] target) =>
        RestoreInPlaceAsync(server.BackupConfig, target);

    /// <summary>Restores the cluster (or formation) a pgBackRest configuration names in place; returns what the script printed.</summary>
    public static async Task<IReadOnlyDictionary<string, string>> RestoreInPlaceAsync(string config, params string[] target)
    {
        var output = await Scripts.OutputAsync("restore.sh", ["--in-place", .. target, "--config", config]);

        // The restart ended every connection the test had to the server, under whichever connection string.
        NpgsqlConnection.ClearAllPools();
        return Printed(output);
    }

    /// <summary>A time as eng/restore.sh takes and prints it (UTC, microseconds).</summary>
    public static string Format(DateTime utc) => utc.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture) + "+00";

    /// <summary>The server's clock, which decides what a restore to a time holds.</summary>
    public static async Task<DateTime> ClockAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select clock_timestamp()", connection);
        return (DateTime)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>
    /// A time T on the server's clock, after commands acknowledged since the last backup: at least a second after the
    /// backup, which eng/restore.sh needs to restore from it (a backup's end is recorded to the second).
    /// </summary>
    public static async Task<DateTime> TimeAfterBackupAsync(string connectionString, CommandLoad load, TimeSpan within)
    {
        var backedUp = await ClockAsync(connectionString);
        await Eventually.Until(() => ClockAsync(connectionString), now => now >= backedUp.AddSeconds(1.1), within,
            "a second on the server's clock since the backup");
        await load.WaitForMoreAsync(20, "commands before T", within);
        return await ClockAsync(connectionString);
    }

    /// <summary>The `name: value` lines a script printed.</summary>
    public static IReadOnlyDictionary<string, string> Printed(string output) =>
        output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(':', 2))
            .Where(parts => parts.Length == 2)
            .ToDictionary(parts => parts[0].Trim(), parts => parts[1].Trim());
}

/// <summary>A cluster eng/restore.sh restored and started; stopped (immediately) when disposed, its files removed with its server's.</summary>
public sealed class RestoredCluster(string directory, IReadOnlyDictionary<string, string> printed) : IAsyncDisposable
{
    /// <summary>What the script printed: target, backup, data, port, database, position, events, checksum, replayed, took.</summary>
    public IReadOnlyDictionary<string, string> Printed => printed;

    public int Port => int.Parse(printed["port"], CultureInfo.InvariantCulture);

    public string ConnectionString =>
        $"Host=127.0.0.1;Port={Port};Database=eventreplay;Username=eventreplay;Timeout=15;Command Timeout=30";

    public async ValueTask DisposeAsync()
    {
        await using (var connection = new NpgsqlConnection(ConnectionString))
        {
            NpgsqlConnection.ClearPool(connection);
        }

        await Scripts.RunAsync("postgres-instance.sh", "kill", directory, Port.ToString(CultureInfo.InvariantCulture));
    }
}

/// <summary>
/// The producer's events as eng/restore.sh sums them up: each row as <c>seq_id|stream_id|version|type|data</c>, in
/// position order, and the checksum over them, optionally only the rows a condition selects (on the original server).
/// </summary>
public static class StoredEvents
{
    private const string Row = "concat_ws('|', seq_id, stream_id, version, type, data::text)";

    /// <summary>A row's commit time at or before @t: what a restore to the time t holds (the server tracks commit times).</summary>
    public const string CommittedBy = "pg_xact_commit_timestamp(xmin) <= @t";

    public const string CommittedAfter = "pg_xact_commit_timestamp(xmin) > @t";

    public static async Task<IReadOnlyList<string>> RowsAsync(string connectionString, string where = "true", params (string Name, object Value)[] parameters)
    {
        var rows = new List<string>();
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = Command(connection, $"select {Row} from producer.mt_events where {where} order by seq_id", parameters);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows.Add(reader.GetString(0));
        }

        return rows;
    }

    /// <summary>The highest position, the count and the checksum of the rows, as the script prints them.</summary>
    public static async Task<(string Position, string Events, string Checksum)> SummaryAsync(string connectionString, string where = "true",
        params (string Name, object Value)[] parameters)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = Command(connection,
            $"select coalesce(max(seq_id), 0)::text, count(*)::text, md5(coalesce(string_agg(md5({Row}), '' order by seq_id), '')) "
            + $"from producer.mt_events where {where}", parameters);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetString(0), reader.GetString(1), reader.GetString(2));
    }

    /// <summary>Each event's (stream, version) and position, to look acknowledged commands up in.</summary>
    public static async Task<Dictionary<(string Stream, long Version), long>> PositionsAsync(string connectionString)
    {
        var positions = new Dictionary<(string, long), long>();
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select stream_id, version, seq_id from producer.mt_events", connection);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            positions[(reader.GetString(0), reader.GetInt64(1))] = reader.GetInt64(2);
        }

        return positions;
    }

    private static NpgsqlCommand Command(NpgsqlConnection connection, string sql, (string Name, object Value)[] parameters)
    {
        var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 60 };
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        return command;
    }
}
