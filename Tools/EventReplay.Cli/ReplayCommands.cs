using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using EventReplay.Cli.Api;
using Spectre.Console;

namespace EventReplay.Cli;

/// <summary>The <c>replay</c> commands. Errors are printed plainly on standard error and end with exit code 1.</summary>
public static class ReplayCommands
{
    private static readonly string[] Over = ["completed", "cancelled", "failed"];

    public static Command Build(Option<string> api)
    {
        var replay = new Command("replay", "Start, follow and control replays.");
        replay.Subcommands.Add(Start(api));
        replay.Subcommands.Add(List(api));
        replay.Subcommands.Add(Show(api));
        foreach (var (name, description) in new[] { ("pause", "Stop sending batches (the replay keeps its place)."),
                     ("resume", "Carry on from where the replay paused."),
                     ("cancel", "End the replay; a cancelled rebuild drops its fresh copy.") })
        {
            replay.Subcommands.Add(Control(api, name, description));
        }

        return replay;
    }

    private static Command Start(Option<string> api)
    {
        var target = new Option<string>("--target", "-t") { Description = "The consumer to replay to: balances or statistics", Required = true };
        var mode = new Option<string>("--mode", "-m") { Description = "redeliver (into the live read model) or rebuild (fresh copy, zero downtime)", DefaultValueFactory = _ => "redeliver" };
        var id = new Option<string?>("--id") { Description = "A replay id of your own (makes the request idempotent)" };
        var fromPosition = new Option<long?>("--from-position") { Description = "First position (inclusive)" };
        var toPosition = new Option<long?>("--to-position") { Description = "Last position (inclusive; default: the store's head)" };
        var fromTime = new Option<DateTimeOffset?>("--from-time") { Description = "Events recorded at or after this time (ISO 8601)" };
        var toTime = new Option<DateTimeOffset?>("--to-time") { Description = "Events recorded at or before this time (ISO 8601)" };
        var streams = new Option<string[]>("--stream") { Description = "Only these streams (repeat for more)", AllowMultipleArgumentsPerToken = true };
        var types = new Option<string[]>("--event-type") { Description = "Only these event types (repeat for more)", AllowMultipleArgumentsPerToken = true };
        var batchSize = new Option<int?>("--batch-size") { Description = "Events per batch, 1–10000 (default 500)" };
        var rate = new Option<int?>("--max-events-per-second") { Description = "Throttle" };
        var reason = new Option<string?>("--reason") { Description = "Why (kept with the replay)" };
        var requestedBy = new Option<string>("--requested-by") { Description = "Who asks (default: $USER)", DefaultValueFactory = _ => Environment.UserName };
        var dryRun = new Option<bool>("--dry-run") { Description = "Only say how many events and batches it would send" };
        var watch = new Option<bool>("--watch", "-w") { Description = "Follow the replay with a live progress bar until it ends" };
        var command = new Command("start", "Start a replay.")
        {
            target, mode, id, fromPosition, toPosition, fromTime, toTime, streams, types, batchSize, rate, reason, requestedBy, dryRun, watch,
        };
        command.SetAction((result, cancellationToken) => RunAsync(async () =>
        {
            var client = Client(result.GetValue(api)!, result.GetValue(requestedBy)!);
            var request = new ReplayRequest
            {
                ReplayId = result.GetValue(id), Target = result.GetValue(target)!, Mode = result.GetValue(mode)!,
                FromPosition = result.GetValue(fromPosition), ToPosition = result.GetValue(toPosition), FromTime = result.GetValue(fromTime),
                ToTime = result.GetValue(toTime), StreamIds = NullIfEmpty(result.GetValue(streams)), EventTypes = NullIfEmpty(result.GetValue(types)),
                BatchSize = result.GetValue(batchSize), MaxEventsPerSecond = result.GetValue(rate), Reason = result.GetValue(reason),
            };
            if (result.GetValue(dryRun))
            {
                var plan = await client.PlanAsync(request, cancellationToken);
                AnsiConsole.MarkupLineInterpolated(
                    $"Dry run: [bold]{plan.EventsTotal:N0}[/] events in {plan.Batches:N0} batches, positions {plan.FromPosition}–{plan.ToPosition}. Nothing was sent.");
                return 0;
            }

            var started = await client.StartAsync(request, cancellationToken);
            AnsiConsole.MarkupLineInterpolated($"Started replay [bold]{started.ReplayId}[/] ({started.Mode} to {started.Target}).");
            return result.GetValue(watch) ? await WatchAsync(client, started.ReplayId, cancellationToken) : 0;
        }));
        return command;
    }

    private static Command List(Option<string> api)
    {
        var limit = new Option<int>("--limit", "-n") { Description = "How many, newest first (1–1000)", DefaultValueFactory = _ => 20 };
        var command = new Command("list", "List replays, newest first.") { limit };
        command.SetAction((result, cancellationToken) => RunAsync(async () =>
        {
            var replays = await Client(result.GetValue(api)!, Environment.UserName).ListAsync(result.GetValue(limit), cancellationToken);
            if (Console.IsOutputRedirected)
            {
                // Piped or captured: one tab-separated line per replay, for scripts.
                foreach (var r in replays)
                {
                    Console.WriteLine(string.Join('\t', r.ReplayId, r.Target, r.Mode, r.Status, r.Done, r.EventsTotal, r.EventsApplied,
                        r.EventsSkipped, r.EventsPerSecond.ToString("F0", CultureInfo.InvariantCulture),
                        r.RequestedAt.ToString("O", CultureInfo.InvariantCulture), r.RequestedBy, r.Reason));
                }

                return 0;
            }

            var table = new Table().AddColumns("id", "target", "mode", "status", "events", "applied", "skipped", "events/s", "requested", "by", "reason");
            foreach (var r in replays)
            {
                table.AddRow(Markup.Escape(r.ReplayId), r.Target, r.Mode, Status(r.Status), $"{r.Done:N0}/{r.EventsTotal:N0}",
                    r.EventsApplied.ToString("N0", CultureInfo.InvariantCulture), r.EventsSkipped.ToString("N0", CultureInfo.InvariantCulture),
                    r.EventsPerSecond.ToString("N0", CultureInfo.InvariantCulture), r.RequestedAt.ToString("u", CultureInfo.InvariantCulture),
                    Markup.Escape(r.RequestedBy ?? ""), Markup.Escape(r.Reason ?? ""));
            }

            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command Show(Option<string> api)
    {
        var id = new Argument<string>("id") { Description = "The replay id" };
        var watch = new Option<bool>("--watch", "-w") { Description = "Follow the replay with a live progress bar until it ends" };
        var command = new Command("show", "Show one replay.") { id, watch };
        command.SetAction((result, cancellationToken) => RunAsync(async () =>
        {
            var client = Client(result.GetValue(api)!, Environment.UserName);
            if (result.GetValue(watch))
            {
                return await WatchAsync(client, result.GetValue(id)!, cancellationToken);
            }

            var replay = await client.ShowAsync(result.GetValue(id)!, cancellationToken);
            AnsiConsole.WriteLine(JsonSerializer.Serialize(replay, ReplayClient.Json));
            return 0;
        }));
        return command;
    }

    private static Command Control(Option<string> api, string name, string description)
    {
        var id = new Argument<string>("id") { Description = "The replay id" };
        var command = new Command(name, description) { id };
        command.SetAction((result, cancellationToken) => RunAsync(async () =>
        {
            await Client(result.GetValue(api)!, Environment.UserName).ControlAsync(result.GetValue(id)!, name, cancellationToken);
            AnsiConsole.MarkupLineInterpolated($"Asked replay [bold]{result.GetValue(id)}[/] to {name}.");
            return 0;
        }));
        return command;
    }

    /// <summary>
    /// A live progress bar (done/total, rate, ETA) until the replay ends. A failed poll is printed as a line of its own
    /// above the bar and polling goes on; the exit code says how the replay ended (0 completed, 1 otherwise).
    /// </summary>
    private static async Task<int> WatchAsync(ReplayClient client, string id, CancellationToken cancellationToken)
    {
        ReplayView? last = null;
        await AnsiConsole.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RateColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(id, maxValue: 1);
                while (!cancellationToken.IsCancellationRequested)
                {
                    try
                    {
                        last = await client.ShowAsync(id, cancellationToken);
                        task.MaxValue = Math.Max(1, last.EventsTotal);
                        task.Value = Math.Min(last.Done, task.MaxValue);
                        task.Description = $"{Markup.Escape(id)} {Status(last.Status)}";
                        RateColumn.Rates[task.Id] = (last.EventsPerSecond, last.EtaSeconds);
                        if (Over.Contains(last.Status))
                        {
                            task.StopTask();
                            return;
                        }
                    }
                    catch (ApiException exception)
                    {
                        AnsiConsole.MarkupLineInterpolated($"[red]{exception.Message}[/]");
                    }

                    await Task.Delay(500, cancellationToken);
                }
            });

        if (last is null)
        {
            return 1;
        }

        AnsiConsole.MarkupLineInterpolated(
            $"{last.Status}: {last.EventsApplied:N0} applied, {last.EventsSkipped:N0} skipped, {last.EventsParked:N0} parked, {last.EventsRejected:N0} rejected, {last.EventsPerSecond:N0} events/s");
        if (last.Error is { } error)
        {
            Console.Error.WriteLine(error);
        }

        return last.Status == "completed" ? 0 : 1;
    }

    private static async Task<int> RunAsync(Func<Task<int>> action)
    {
        try
        {
            return await action();
        }
        catch (ApiException exception)
        {
            await Console.Error.WriteLineAsync(exception.Message);
            return 1;
        }
    }

    private static ReplayClient Client(string api, string requestedBy)
    {
        if (!Uri.TryCreate(api.EndsWith('/') ? api : api + "/", UriKind.Absolute, out var address))
        {
            throw new ApiException(0, $"--api {api} is not an absolute URL.");
        }

        var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
        if (TokenCommand.Resolve(Token) is { } token)
        {
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }

        return new ReplayClient(http, requestedBy);
    }

    /// <summary>The token given with <c>--token</c> or <c>EVENTREPLAY_TOKEN</c>, if any (set before a command runs).</summary>
    public static string? Token { get; set; }

    private static string[]? NullIfEmpty(string[]? values) => values is { Length: > 0 } ? values : null;

    private static string Status(string status) => status switch
    {
        "completed" => "[green]completed[/]",
        "failed" => "[red]failed[/]",
        "cancelled" => "[yellow]cancelled[/]",
        _ => status,
    };
}
