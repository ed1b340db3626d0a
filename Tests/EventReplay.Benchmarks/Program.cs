using System.Globalization;
using EventReplay.Benchmarks;

// Usage (eng/bench-live.sh runs both):
//   live    --url http://127.0.0.1:8080 --seconds 60 --concurrency 1,8,32
//   backlog --consumer balances --service path/to/EventReplay.Consumers.Balances.dll --events 100000 --accounts 10000
//           --readmodels "..." --rabbitmq "amqp://..." --redis "host:port,defaultDatabase=N"
//   seed    --eventstore "..." --events 1000000 --accounts 10000 [--layout interleaved|runs|contiguous] [--record file]
//   leg     --leg replay|replay-no-redis|marten|apply-floor|floor|live --out runs.jsonl [--url --eventstore --readmodels --redis --batch-size
//           --concurrency --seconds] (eng/bench.sh)
//   live-matrix --url http://127.0.0.1:8080 --eventstore "..." --rabbit-management http://user:pass@host:15672/vhost
//           [--legs live,http-floor --seconds 20 --warm-up 30 --concurrency 8,32,128 --rates 1000,2000,2500,5000 --out bench-results]
//           (eng/bench.sh)
//   report  --runs runs.jsonl --layout L --events N --accounts M --batch-size B --seed-rate R --eventstore "..."
//           --rabbit-management http://user:pass@host:15672/vhost --out bench-results
//   rebuild --url http://127.0.0.1:8080 --eventstore "..." --readmodels "..." --batch-size 500 [--live-concurrency 4]
//   soak    --url http://127.0.0.1:8080 --eventstore "..." --readmodels "..." --database D --redis "host:port,defaultDatabase=N" --out soak-results
//           [--minutes 10 --rate 100 --workers 8 --readers 2 --reads 15 --rebuild-every 120 --kill-every 180 --sample-every 5
//            --eventstore-port 5433 --readmodels-port 5432 --amqp-port 5672 --redis-port 6379] (eng/soak.sh)
var options = args.Skip(1).Chunk(2).Where(pair => pair.Length == 2).ToDictionary(pair => pair[0].TrimStart('-'), pair => pair[1]);
string Option(string name, string? fallback = null) =>
    options.GetValueOrDefault(name) ?? fallback ?? throw new ArgumentException($"--{name} is required.");
int Number(string name, int fallback) => int.Parse(Option(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
static string Cpu(IReadOnlyDictionary<string, double> seconds, double over) =>
    string.Join(", ", seconds.Where(p => p.Value > 0.05).OrderByDescending(p => p.Value).Select(p => $"{p.Key} {p.Value / over * 100:F0}%"));
static string Memory(IReadOnlyDictionary<string, double> mib) =>
    string.Join(", ", mib.OrderByDescending(p => p.Value).Select(p => $"{p.Key} {p.Value:F0}"));

switch (args.FirstOrDefault())
{
    case "live":
        var seconds = Number("seconds", 60);
        Console.WriteLine($"live: deposits through {Option("url", "http://127.0.0.1:8080")}, {seconds} s per row, {Environment.ProcessorCount} cores shared by everything");
        Console.WriteLine($"{"conc",5} {"cmds/s",8} {"cmd p50",8} {"cmd p99",8} {"vis p50",8} {"vis p99",8} {"vis max",8} {"probes",6} {"failed",6}  CPU (% of one core)");
        foreach (var concurrency in Option("concurrency", "1,8,32").Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture)))
        {
            var r = await LiveLoad.RunAsync(new Uri(Option("url", "http://127.0.0.1:8080")), concurrency, TimeSpan.FromSeconds(seconds));
            Console.WriteLine($"{r.Concurrency,5} {r.CommandsPerSecond,8:F0} {r.CommandLatencyMs.P50,8:F1} {r.CommandLatencyMs.P99,8:F1} {r.VisibleDelayMs.P50,8:F1} {r.VisibleDelayMs.P99,8:F1} {r.VisibleDelayMs.Max,8:F1} {r.Probes,6} {r.Failures,6}  {Cpu(r.CpuSeconds, r.Seconds)}");
            Console.WriteLine($"      resident MiB: {Memory(r.ResidentMiB)}");
        }

        break;
    case "live-matrix":
        var matrixSeconds = Number("seconds", 20);
        Console.WriteLine($"live-matrix: through {Option("url", "http://127.0.0.1:8080")}, {matrixSeconds} s per row after {Number("warm-up", 30)} s unmeasured, {Environment.ProcessorCount} cores shared by everything");
        var matrix = await LiveMatrix.RunAsync(new Uri(Option("url", "http://127.0.0.1:8080")), Option("eventstore"), Option("rabbit-management"),
            Option("legs", "live,http-floor").Split(',').ToHashSet(),
            [.. Option("concurrency", "8,32,128").Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture))],
            [.. Option("rates", "1000,2000,2500,5000").Split(',').Select(r => int.Parse(r, CultureInfo.InvariantCulture))],
            TimeSpan.FromSeconds(matrixSeconds), TimeSpan.FromSeconds(Number("warm-up", 30)),
            row => Console.WriteLine($"  {row.Leg,-10} {row.Load,-16} {row.PerSecond,8:F0}/s  p50 {row.LatencyMs.P50,6:F1}  p99 {row.LatencyMs.P99,7:F1}  p99.9 {row.LatencyMs.P999,7:F1} ms  failed {row.Failures}"
                + (row.VisibleMs is { } visible ? $"  visible p50/p99/max {visible.P50:F0}/{visible.P99:F0}/{visible.Max:F0} ms" : "")));
        var table = LiveMatrix.Table(matrix);
        Console.WriteLine();
        Console.WriteLine(table);
        var matrixOut = Option("out", "bench-results");
        Directory.CreateDirectory(matrixOut);
        await File.WriteAllTextAsync(Path.Combine(matrixOut, "live.md"), table);
        await File.WriteAllTextAsync(Path.Combine(matrixOut, "live.json"), System.Text.Json.JsonSerializer.Serialize(matrix,
            new System.Text.Json.JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
        break;
    case "backlog":
        var result = await Backlog.RunAsync(Option("consumer"), Option("service"), Number("events", 100_000), Number("accounts", 10_000),
            Option("readmodels"), Option("rabbitmq"), Option("redis"));
        Console.WriteLine($"backlog: {result.Consumer} applied {result.Events} queued events in {result.Seconds:F1} s = {result.EventsPerSecond:F0} events/s");
        Console.WriteLine($"      CPU (% of one core, first batch to last): {Cpu(result.CpuSeconds, result.Seconds)}");
        Console.WriteLine($"      peak resident MiB: {Memory(result.ResidentMiB)}");
        break;
    case "seed":
        var accountCount = Number("accounts", 10_000);
        var perAccount = (int)(long.Parse(Option("events"), CultureInfo.InvariantCulture) / accountCount);
        var layout = Enum.Parse<Layout>(Option("layout", "interleaved"), ignoreCase: true);
        var seeded = await Seed.AppendAsync(Option("eventstore"), "bench", accountCount, perAccount, layout);
        Console.WriteLine($"seed: {(long)perAccount * accountCount:N0} events over {accountCount:N0} accounts, {layout.ToString().ToLowerInvariant()}, at {seeded:N0} events/s");
        if (options.TryGetValue("record", out var record))
        {
            await File.WriteAllTextAsync(record, seeded.ToString("F0", CultureInfo.InvariantCulture));
        }

        break;
    case "skip-publishing":
        await Seed.SkipPublishingAsync(Option("eventstore"));
        break;
    case "leg":
        var leg = Option("leg");
        void Record(LegRun run)
        {
            run.AppendTo(Option("out"));
            Console.WriteLine($"bench: {leg,-16} {run.EventsPerSecond,10:N0} {(leg == Legs.Live ? "commands" : "events")}/s  ({run.Events:N0} in {run.Seconds:F1} s){(run.Hash is null ? "" : $"  balances {run.Hash}")}");
        }

        // --repeat runs the leg several times from this one process: the first run is cold, the rest warm, for the
        // in-process legs as for the running system's.
        var repeat = Number("repeat", 1);
        switch (leg)
        {
            case Legs.Replay or Legs.ReplayNoRedis:
                for (var i = 0; i < repeat; i++)
                {
                    Record(await Legs.RunReplayAsync(leg, new Uri(Option("url", "http://127.0.0.1:8080")), Option("readmodels"), Number("batch-size", 500)));
                }

                break;
            case Legs.Live:
                for (var i = 0; i < repeat; i++)
                {
                    Record(await Legs.RunLiveAsync(new Uri(Option("url", "http://127.0.0.1:8080")), Number("concurrency", 8), Number("seconds", 60)));
                }

                break;
            default:
                await Legs.RunInProcessAsync(leg, Option("eventstore"), Option("readmodels"), Option("redis"), Number("batch-size", 500), repeat, Record);
                break;
        }

        break;
    case "report":
        var setup = new BenchReport.Setup(Option("layout"), long.Parse(Option("events"), CultureInfo.InvariantCulture), Number("accounts", 10_000),
            Number("batch-size", 500), double.Parse(Option("seed-rate", "0"), CultureInfo.InvariantCulture));
        var agreed = await BenchReport.WriteAsync(LegRun.ReadAll(Option("runs")), setup, Option("eventstore"), Option("rabbit-management"), Option("out"));
        if (!agreed)
        {
            Console.Error.WriteLine("bench: the legs computed different balances");
            return 1;
        }

        break;
    case "rebuild":
        var url = new Uri(Option("url", "http://127.0.0.1:8080"));
        var liveConcurrency = Number("live-concurrency", 0);
        Console.WriteLine($"rebuild: {Option("target", "balances")} through {url}, batches of {Number("batch-size", 500)}, {Environment.ProcessorCount} cores shared by everything");
        LiveLoad.Result? before = null;
        if (liveConcurrency > 0)
        {
            before = await LiveLoad.RunAsync(url, liveConcurrency, TimeSpan.FromSeconds(15));
        }

        using (var rebuildDone = new CancellationTokenSource())
        {
            var during = liveConcurrency > 0 ? LiveLoad.RunAsync(url, liveConcurrency, TimeSpan.FromHours(1), rebuildDone.Token) : null;
            var rebuild = await Rebuild.RunAsync(url, Option("target", "balances"), Number("batch-size", 500));
            await rebuildDone.CancelAsync();
            var live = during is null ? null : await during;
            var verified = await Rebuild.VerifyAsync(Option("eventstore"), Option("readmodels"), Option("target", "balances"));
            Console.WriteLine($"{rebuild.Events,9:N0} events: {rebuild.EventsPerSecond,8:N0} events/s ({rebuild.Seconds:F1} s), result {(verified ? "equals" : "DIFFERS FROM")} the SQL fold");
            Console.WriteLine($"      CPU (% of one core): {Cpu(rebuild.CpuSeconds, rebuild.Seconds)}");
            Console.WriteLine($"      CPU s per 1,000 events: {string.Join(", ", rebuild.CpuSeconds.Where(p => p.Value > 0.05).OrderByDescending(p => p.Value).Select(p => $"{p.Key} {p.Value / rebuild.Events * 1000:F3}"))}");
            Console.WriteLine($"      peak resident MiB: {Memory(rebuild.PeakMiB)}");
            if (live is not null && before is not null)
            {
                Console.WriteLine($"      live deposits ({liveConcurrency} connections) before the rebuild: {before.CommandsPerSecond:F0} cmds/s, visible p50 {before.VisibleDelayMs.P50:F1} ms p99 {before.VisibleDelayMs.P99:F1} ms max {before.VisibleDelayMs.Max:F1} ms");
                Console.WriteLine($"      live deposits during the rebuild:            {live.CommandsPerSecond:F0} cmds/s, visible p50 {live.VisibleDelayMs.P50:F1} ms p99 {live.VisibleDelayMs.P99:F1} ms max {live.VisibleDelayMs.Max:F1} ms ({live.Probes} probes, {live.Failures} failed)");
            }

            if (!verified)
            {
                return 1;
            }
        }

        break;
    case "soak":
        double Real(string name, double fallback) => double.Parse(Option(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
        var soak = await Soak.RunAsync(new SoakOptions
        {
            Api = new Uri(Option("url", "http://127.0.0.1:8080")),
            EventStore = Option("eventstore"),
            ReadModels = Option("readmodels"),
            Database = Option("database"),
            Redis = Option("redis"),
            Out = Option("out", "soak-results"),
            Duration = TimeSpan.FromMinutes(Real("minutes", 10)),
            CommandsPerSecond = Real("rate", 100),
            Workers = Number("workers", 8),
            Readers = Number("readers", 2),
            ReadsPerSecond = Real("reads", 15),
            RebuildEvery = TimeSpan.FromSeconds(Real("rebuild-every", 120)),
            KillEvery = TimeSpan.FromSeconds(Real("kill-every", 180)),
            SampleEvery = TimeSpan.FromSeconds(Real("sample-every", 5)),
            EventStorePort = Number("eventstore-port", 5433),
            ReadModelsPort = Number("readmodels-port", 5432),
            AmqpPort = Number("amqp-port", 5672),
            RedisPort = Number("redis-port", 6379),
        });
        if (soak.Failures.Count > 0)
        {
            Console.Error.WriteLine($"soak: FAILED: {string.Join("; ", soak.Failures)}");
            return 1;
        }

        break;
    default:
        Console.Error.WriteLine("usage: EventReplay.Benchmarks live|backlog|seed|skip-publishing|rebuild|leg|report|soak [--option value ...] (see Program.cs)");
        return 2;
}

return 0;
