using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;

namespace EventReplay.Benchmarks;

/// <summary>
/// The result of an eng/bench.sh run: every leg's repetitions summed up (events/s median, min and max; CPU seconds
/// per 1,000 events per process; peak resident memory per process), the ratios the targets are about, the machine,
/// and whether every leg computed the same balances. Printed, and written as latest.json and latest.md.
/// </summary>
public static class BenchReport
{
    private static readonly string[] LegOrder = [Legs.Replay, Legs.ReplayNoRedis, Legs.Marten, Legs.ApplyFloor, Legs.Floor, Legs.Live];

    public sealed record Setup(string Layout, long Events, int Accounts, int BatchSize, double SeedEventsPerSecond);

    /// <summary>Writes the report; false when two legs that compute balances disagree.</summary>
    public static async Task<bool> WriteAsync(IReadOnlyList<LegRun> runs, Setup setup, string postgres, string rabbitManagement, string outputDirectory)
    {
        var machine = await MachineAsync(postgres, rabbitManagement);
        var legs = runs.GroupBy(run => run.Leg).OrderBy(group => Array.IndexOf(LegOrder, group.Key)).ToList();
        var hashes = runs.Where(run => run.Hash is not null).Select(run => (run.Leg, run.Hash!)).Distinct().ToList();
        var verified = hashes.Select(pair => pair.Item2).Distinct().Count() <= 1;
        double? Median(string leg) => legs.FirstOrDefault(group => group.Key == leg) is { } group
            ? MedianOf([.. group.Select(run => run.EventsPerSecond)])
            : null;
        double? Ratio(string over) => Median(Legs.Replay) is { } replay && Median(over) is { } other ? replay / other : null;

        var json = new JsonObject
        {
            ["date"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture),
            ["machine"] = JsonSerializer.SerializeToNode(machine),
            ["layout"] = setup.Layout,
            ["events"] = setup.Events,
            ["accounts"] = setup.Accounts,
            ["batchSize"] = setup.BatchSize,
            ["seedEventsPerSecond"] = Math.Round(setup.SeedEventsPerSecond),
            ["verified"] = verified,
            ["hashes"] = new JsonObject(hashes.Select(pair => KeyValuePair.Create(pair.Leg, (JsonNode?)pair.Item2))),
            ["legs"] = new JsonObject(legs.Select(group => KeyValuePair.Create(group.Key, (JsonNode?)LegJson(group.ToList())))),
            ["ratios"] = new JsonObject
            {
                ["replayOverMarten"] = Round(Ratio(Legs.Marten)),
                ["replayOverApplyFloor"] = Round(Ratio(Legs.ApplyFloor)),
                ["replayOverFloor"] = Round(Ratio(Legs.Floor)),
            },
        };

        var markdown = new StringBuilder();
        markdown.AppendLine(CultureInfo.InvariantCulture,
            $"{setup.Events:N0} events over {setup.Accounts:N0} accounts, layout **{setup.Layout}**, batches of {setup.BatchSize}; {json["date"]}; " +
            $"{machine.Cores} cores, PostgreSQL {machine.PostgreSql} (fsync {machine.Fsync}, synchronous_commit {machine.SynchronousCommit}), " +
            $"RabbitMQ {machine.RabbitMq} ({machine.QueueType} queues); seeded at {setup.SeedEventsPerSecond:N0} events/s.");
        markdown.AppendLine();
        markdown.AppendLine("| leg | runs | events/s median (min–max) | CPU s per 1,000 events | peak RSS MiB |");
        markdown.AppendLine("|---|---|---|---|---|");
        foreach (var group in legs)
        {
            var list = group.ToList();
            var rates = list.Select(run => run.EventsPerSecond).ToList();
            var unit = group.Key == Legs.Live ? " commands/s" : "";
            var live = group.Key == Legs.Live
                ? $"; visible p50 {MedianOf([.. list.Select(run => run.VisibleP50Ms ?? 0)]):F1} ms, p99 {MedianOf([.. list.Select(run => run.VisibleP99Ms ?? 0)]):F1} ms"
                : "";
            markdown.AppendLine(CultureInfo.InvariantCulture,
                $"| {group.Key} | {list.Count} | {MedianOf(rates):N0} ({rates.Min():N0}–{rates.Max():N0}){unit}{live} | {Costs(CpuPer1000(list), "F3")} | {Costs(PeakOf(list), "F0")} |");
        }

        markdown.AppendLine();
        markdown.AppendLine(CultureInfo.InvariantCulture,
            $"Ratios: replay/marten **{Format(Ratio(Legs.Marten))}** (target ≥ 2.0), replay/apply-floor **{Format(Ratio(Legs.ApplyFloor))}** " +
            $"(target ≥ 0.5), replay/floor **{Format(Ratio(Legs.Floor))}**.");
        markdown.AppendLine();
        markdown.AppendLine(verified
            ? $"Every leg computed the same balances ({hashes.FirstOrDefault().Item2 ?? "no hash"})."
            : $"**THE LEGS DISAGREE**: {string.Join(", ", hashes.Select(pair => $"{pair.Leg} {pair.Item2}"))}");

        Directory.CreateDirectory(outputDirectory);
        var options = new JsonSerializerOptions { WriteIndented = true };
        await File.WriteAllTextAsync(Path.Combine(outputDirectory, "latest.json"), json.ToJsonString(options));
        await File.WriteAllTextAsync(Path.Combine(outputDirectory, "latest.md"), markdown.ToString());
        await File.WriteAllTextAsync(Path.Combine(outputDirectory, $"{setup.Layout}.json"), json.ToJsonString(options));
        await File.WriteAllTextAsync(Path.Combine(outputDirectory, $"{setup.Layout}.md"), markdown.ToString());
        Console.WriteLine(markdown.ToString());
        return verified;
    }

    public sealed record Machine(int Cores, string PostgreSql, string Fsync, string SynchronousCommit, string RabbitMq, string QueueType);

    private static async Task<Machine> MachineAsync(string postgres, string rabbitManagement)
    {
        await using var dataSource = NpgsqlDataSource.Create(postgres);
        async Task<string> Show(string setting)
        {
            await using var command = dataSource.CreateCommand($"show {setting}");
            return (string)(await command.ExecuteScalarAsync())!;
        }

        var rabbit = "unknown";
        var queueType = "unknown";
        try
        {
            var management = new Uri(rabbitManagement);
            using var http = new HttpClient { BaseAddress = new Uri(management.GetLeftPart(UriPartial.Authority)), Timeout = TimeSpan.FromSeconds(5) };
            http.DefaultRequestHeaders.Authorization = new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(Uri.UnescapeDataString(management.UserInfo))));
            var overview = await http.GetFromJsonAsync<JsonElement>("/api/overview");
            rabbit = overview.GetProperty("rabbitmq_version").GetString() ?? rabbit;
            var queue = await http.GetFromJsonAsync<JsonElement>($"/api/queues/{Uri.EscapeDataString(management.AbsolutePath.Trim('/'))}/balances.replay");
            queueType = queue.TryGetProperty("type", out var type) ? type.GetString() ?? queueType : queueType;
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException or JsonException or UriFormatException)
        {
            Console.Error.WriteLine($"report: RabbitMQ's management API did not answer: {exception.Message}");
        }

        return new Machine(Environment.ProcessorCount, await Show("server_version"), await Show("fsync"), await Show("synchronous_commit"),
            rabbit, queueType);
    }

    private static JsonObject LegJson(IReadOnlyList<LegRun> runs)
    {
        var rates = runs.Select(run => run.EventsPerSecond).ToList();
        var leg = new JsonObject
        {
            ["eventsPerSecond"] = new JsonObject
            {
                ["median"] = Math.Round(MedianOf(rates)),
                ["min"] = Math.Round(rates.Min()),
                ["max"] = Math.Round(rates.Max()),
                ["runs"] = new JsonArray([.. rates.Select(rate => (JsonNode?)Math.Round(rate))]),
            },
            ["events"] = runs[0].Events,
            ["cpuSecondsPer1000Events"] = JsonSerializer.SerializeToNode(CpuPer1000(runs).ToDictionary(p => p.Key, p => Math.Round(p.Value, 4))),
            ["peakMiB"] = JsonSerializer.SerializeToNode(PeakOf(runs).ToDictionary(p => p.Key, p => Math.Round(p.Value))),
        };
        if (runs[0].Leg == Legs.Live)
        {
            leg["visibleP50Ms"] = Math.Round(MedianOf([.. runs.Select(run => run.VisibleP50Ms ?? 0)]), 1);
            leg["visibleP99Ms"] = Math.Round(MedianOf([.. runs.Select(run => run.VisibleP99Ms ?? 0)]), 1);
        }

        return leg;
    }

    // CPU seconds per 1,000 events (or commands) per process, over all repetitions; processes under 1% left out.
    private static IReadOnlyDictionary<string, double> CpuPer1000(IReadOnlyList<LegRun> runs)
    {
        var events = runs.Sum(run => run.Events);
        return runs.SelectMany(run => run.CpuSeconds).GroupBy(p => p.Key)
            .Select(group => (group.Key, Value: group.Sum(p => p.Value) / events * 1000))
            .Where(p => p.Value * events / 1000 > 0.01 * runs.Sum(run => run.Seconds))
            .OrderByDescending(p => p.Value).ToDictionary(p => p.Key, p => p.Value);
    }

    private static IReadOnlyDictionary<string, double> PeakOf(IReadOnlyList<LegRun> runs) =>
        runs.SelectMany(run => run.PeakMiB).GroupBy(p => p.Key).Select(group => (group.Key, Value: group.Max(p => p.Value)))
            .Where(p => p.Value >= 1).OrderByDescending(p => p.Value).ToDictionary(p => p.Key, p => p.Value);

    private static string Costs(IReadOnlyDictionary<string, double> costs, string format) =>
        string.Join(", ", costs.Select(p => $"{p.Key} {p.Value.ToString(format, CultureInfo.InvariantCulture)}"));

    private static double MedianOf(IReadOnlyList<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count == 0 ? 0 : sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static double? Round(double? ratio) => ratio is { } value ? Math.Round(value, 2) : null;

    private static string Format(double? ratio) => ratio is { } value ? value.ToString("F2", CultureInfo.InvariantCulture) : "n/a";
}
