using System.Globalization;
using EventReplay.Benchmarks;

// Usage (eng/bench-live.sh runs both):
//   live    --url http://127.0.0.1:8080 --seconds 60 --concurrency 1,8,32
//   backlog --consumer balances --service path/to/EventReplay.Consumers.Balances.dll --events 100000 --accounts 10000
//           --postgres "..." --rabbitmq "amqp://..." --redis "host:port,defaultDatabase=N"
//   rebuild --url http://127.0.0.1:8080 --postgres "..." --events 100000,1000000 --accounts 10000 --batch-size 500
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
    case "backlog":
        var result = await Backlog.RunAsync(Option("consumer"), Option("service"), Number("events", 100_000), Number("accounts", 10_000),
            Option("postgres"), Option("rabbitmq"), Option("redis"));
        Console.WriteLine($"backlog: {result.Consumer} applied {result.Events} queued events in {result.Seconds:F1} s = {result.EventsPerSecond:F0} events/s");
        Console.WriteLine($"      CPU (% of one core, first batch to last): {Cpu(result.CpuSeconds, result.Seconds)}");
        Console.WriteLine($"      peak resident MiB: {Memory(result.ResidentMiB)}");
        break;
    case "rebuild":
        var postgresConnection = Option("postgres");
        var url = new Uri(Option("url", "http://127.0.0.1:8080"));
        Console.WriteLine($"rebuild: {Option("target", "balances")} through {url}, batches of {Number("batch-size", 500)}, {Environment.ProcessorCount} cores shared by everything");
        foreach (var total in Option("events", "100000,1000000").Split(',').Select(e => long.Parse(e, CultureInfo.InvariantCulture)))
        {
            var seedRate = await Rebuild.SeedAsync(postgresConnection, total, Number("accounts", 10_000));
            var rebuild = await Rebuild.RunAsync(url, postgresConnection, Option("target", "balances"), Number("batch-size", 500));
            Console.WriteLine($"{rebuild.Events,9:N0} events: {rebuild.EventsPerSecond,8:N0} events/s ({rebuild.Seconds:F1} s), seeded at {seedRate:N0} events/s, result {(rebuild.Verified ? "equals" : "DIFFERS FROM")} the SQL fold");
            Console.WriteLine($"      CPU (% of one core): {Cpu(rebuild.CpuSeconds, rebuild.Seconds)}");
            Console.WriteLine($"      CPU s per 1,000 events: {string.Join(", ", rebuild.CpuSeconds.Where(p => p.Value > 0.05).OrderByDescending(p => p.Value).Select(p => $"{p.Key} {p.Value / rebuild.Events * 1000:F3}"))}");
            Console.WriteLine($"      peak resident MiB: {Memory(rebuild.PeakMiB)}");
            if (!rebuild.Verified)
            {
                return 1;
            }
        }

        break;
    default:
        Console.Error.WriteLine("usage: EventReplay.Benchmarks live|backlog [--option value ...] (see Program.cs)");
        return 2;
}

return 0;
