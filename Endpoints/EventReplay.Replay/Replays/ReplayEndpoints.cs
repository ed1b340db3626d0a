using System.Globalization;
using EventReplay.Contracts.Replays;
using EventReplay.Hosting;
using EventReplay.Hosting.Security;
using Marten;
using Wolverine;
using EventReplay.Security;

namespace EventReplay.Replay.Replays;

/// <summary>What <c>GET /api/replays/{id}</c> shows of a replay.</summary>
public sealed record ReplayView(string ReplayId, string Target, string Mode, string Status, long FromPosition, long? ToPosition,
    DateTimeOffset? FromTime, DateTimeOffset? ToTime, string[]? StreamIds, string[]? EventTypes, int BatchSize, int? MaxEventsPerSecond,
    long Position, long EventsTotal, long EventsSent, long EventsApplied, long EventsSkipped, long EventsParked, long EventsRejected,
    double EventsPerSecond, double? EtaSeconds, string? RequestedBy, string? OnBehalfOf, string? Reason, DateTimeOffset RequestedAt,
    DateTimeOffset? StartedAt, DateTimeOffset? CompletedAt, string? Error)
{
    public static ReplayView Of(Replay replay, DateTimeOffset now)
    {
        var rate = replay.EventsPerSecond(now);
        var done = replay.EventsApplied + replay.EventsSkipped + replay.EventsParked + replay.EventsRejected;
        var planned = replay.StartedAt is not null;
        var selection = replay.Selection;
        return new ReplayView(replay.Id, replay.Target, replay.Mode, replay.VisibleStatus(now), selection.FromPosition,
            planned ? selection.ToPosition : null, selection.FromTime, selection.ToTime, selection.StreamIds, selection.EventTypes,
            replay.BatchSize, replay.MaxEventsPerSecond, replay.Cursor, replay.EventsTotal, replay.EventsSent, replay.EventsApplied,
            replay.EventsSkipped, replay.EventsParked, replay.EventsRejected, Math.Round(rate, 1),
            replay.Status == ReplayStatus.Running && rate > 0 ? Math.Round((replay.EventsTotal - done) / rate, 1) : null,
            replay.RequestedBy, replay.OnBehalfOf, replay.Reason, replay.RequestedAt, replay.StartedAt, replay.CompletedAt, replay.Error);
    }
}

/// <summary>The body of <c>POST /api/replays</c> and of its dry run, <c>POST /api/replays/dry-run</c>: a <see cref="StartReplay"/>.</summary>
public sealed record ReplayRequest(string? ReplayId, string? Target, string? Mode, long? FromPosition, long? ToPosition,
    DateTimeOffset? FromTime, DateTimeOffset? ToTime, string[]? StreamIds, string[]? EventTypes, int? BatchSize,
    int? MaxEventsPerSecond, string? Reason)
{
    public StartReplay ToCommand(string requestedBy, string? onBehalfOf) => new(ReplayId, Target, Mode, FromPosition, ToPosition, FromTime,
        ToTime, StreamIds, EventTypes, BatchSize, MaxEventsPerSecond, Reason, requestedBy, onBehalfOf);
}

/// <summary>What a dry run of <c>POST /api/replays</c> answers: what the replay would send.</summary>
public sealed record ReplayPlan(long EventsTotal, long Batches, long FromPosition, long ToPosition);

/// <summary>What <c>GET /api/replays</c> answers.</summary>
public sealed record ReplayList(IReadOnlyList<ReplayView> Replays);

public static class ReplayEndpoints
{
    public const string RequestedByHeader = "X-Requested-By";

    public static void MapReplays(this WebApplication app)
    {
        var replays = app.MapGroup("/api/replays").WithTags("Replays");
        replays.MapPost("", StartAsync)
            .WithName("startReplay").WithSummary("Start a replay")
            .WithDescription("Starts a replay of the selected events (positions, times, streams, event types) to one target "
                             + "(`balances` or `statistics`): `redeliver` re-sends them into the live read model, which applies what "
                             + "it is missing (gap repair) and skips what it has; `rebuild` builds a fresh copy of the read model and "
                             + "cuts over to it without downtime. 202 with the replay and its `Location`; "
                             + "the same `replayId` again is a retry and answers as the first time (409 when the parameters differ). "
                             + "`dryRun` is refused here (400): a dry run is `POST /api/replays/dry-run`. Starts and dry runs have "
                             + "their own, tighter rate limit.")
            .Accepts<ReplayRequest>("application/json")
            .Produces<ReplayView>(StatusCodes.Status202Accepted)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status409Conflict)
            .Header(RequestedByHeader, "Whom the operator acts for (recorded as `onBehalfOf`; the actor is the token's subject).")
            .RequestExample(new ReplayRequest("rebuild-2026-12-01", "balances", "rebuild", null, null, null, null, null, null, 500, null,
                "Balances read model restored from an old backup"))
            .ResponseExample(StatusCodes.Status202Accepted, Example)
            .RequireAuthorization(Policies.Operate);
        replays.MapPost("/dry-run", PlanAsync)
            .WithName("planReplay").WithSummary("Plan a replay (dry run)")
            .WithDescription("Checks a start request as `POST /api/replays` does and says what it would send (how many events, in "
                             + "how many batches, up to which position) without starting anything. Counts the log: it shares the "
                             + "replay starts' rate limit.")
            .Accepts<ReplayRequest>("application/json")
            .Produces<ReplayPlan>().ProducesValidationProblem()
            .RequestExample(new ReplayRequest(null, "statistics", "redeliver", 1, null, null, null, null, null, 500, null, null))
            .ResponseExample(StatusCodes.Status200OK, new ReplayPlan(98_000, 196, 1, 98_000))
            .RequireAuthorization(Policies.Operate);
        replays.MapGet("", ListAsync)
            .WithName("listReplays").WithSummary("List replays, newest first")
            .WithDescription("At most `limit` replays, newest first.")
            .Query("limit", "1 to 1000; default 50.", Microsoft.OpenApi.JsonSchemaType.Integer)
            .Produces<ReplayList>().ProducesValidationProblem()
            .RequireAuthorization(Policies.Read);
        replays.MapGet("/{id}", ShowAsync)
            .WithName("getReplay").WithSummary("Read one replay's progress")
            .WithDescription("Its status and counts: sent, applied, skipped (already applied), parked, rejected; rate and ETA while running.")
            .Produces<ReplayView>().ProducesProblem(StatusCodes.Status404NotFound)
            .ResponseExample(StatusCodes.Status200OK, Example)
            .RequireAuthorization(Policies.Read);
        Control(replays.MapPost("/{id}/pause", (string id, HttpContext http, IMessageBus bus, IQuerySession session, AuditLog audit, CancellationToken ct) =>
            ControlAsync(id, "pause", new PauseReplay(id), http, bus, session, audit, ct)), "pauseReplay", "Pause a replay",
            "No more batches are sent until it is resumed; batches in flight finish.");
        Control(replays.MapPost("/{id}/resume", (string id, HttpContext http, IMessageBus bus, IQuerySession session, AuditLog audit, CancellationToken ct) =>
            ControlAsync(id, "resume", new ResumeReplay(id), http, bus, session, audit, ct)), "resumeReplay", "Resume a paused replay",
            "Sending goes on from where it stopped.");
        Control(replays.MapPost("/{id}/cancel", (string id, HttpContext http, IMessageBus bus, IQuerySession session, AuditLog audit, CancellationToken ct) =>
            ControlAsync(id, "cancel", new CancelReplay(id), http, bus, session, audit, ct)), "cancelReplay", "Cancel a replay",
            "It stops; a rebuild's unfinished copy is dropped and the live read model stays as it was.");
    }

    private static readonly ReplayView Example = new("rebuild-2026-12-01", "balances", "rebuild", "running", 1, 98_000, null, null, null,
        null, 500, null, 41_500, 98_000, 42_000, 41_200, 300, 0, 0, 8_350.5, 6.8, "ada (operator)", null,
        "Balances read model restored from an old backup", new DateTimeOffset(2026, 12, 1, 9, 30, 0, TimeSpan.Zero),
        new DateTimeOffset(2026, 12, 1, 9, 30, 1, TimeSpan.Zero), null, null);

    private static void Control(RouteHandlerBuilder endpoint, string name, string summary, string description) => endpoint
        .WithName(name).WithSummary(summary).WithDescription($"{description} 202 once the command is accepted; the replay's status follows.")
        .Produces(StatusCodes.Status202Accepted).ProducesProblem(StatusCodes.Status404NotFound)
        .RequireAuthorization(Policies.Operate);

    private static readonly Dictionary<string, string> NotAStart = new()
    {
        ["dryRun"] = "A dry run is POST /api/replays/dry-run: this request starts a replay.",
    };

    private static async Task<IResult> StartAsync(HttpRequest http, IMessageBus bus, IQuerySession session, AuditLog audit,
        TimeProvider clock, CancellationToken cancellationToken)
    {
        var (request, problem) = await CommandAsync(http, NotAStart, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        var command = request!;
        if (command.ReplayId is { } id && await session.LoadAsync<Replay>(id, cancellationToken) is { } existing)
        {
            // The same id again is a retry of the same request, answered as the first one was.
            return Same(existing, command)
                ? TypedResults.Accepted($"/api/replays/{id}", ReplayView.Of(existing, clock.GetUtcNow()))
                : TypedResults.Problem(statusCode: 409, title: "A different replay already has this id.",
                    detail: $"Replay {id} exists with other parameters.");
        }

        if (command.Mode == ReplayModes.Rebuild
            && await ReplayRules.RunningRebuildAsync(session, command.Target!, DateTimeOffset.MaxValue, null, cancellationToken) is { } running)
        {
            return TypedResults.Problem(statusCode: 409, title: "A rebuild of this target is running.",
                detail: $"Rebuild {running.Id} of {running.Target} has not ended; cancel it or wait for it.");
        }

        command = command with { ReplayId = command.ReplayId ?? Guid.NewGuid().ToString("N") };
        await bus.InvokeAsync(command, cancellationToken);
        await audit.RecordAsync(AuditEntry.Of(http.HttpContext, "replay.start", command.ReplayId!,
            $"{command.Mode} of {command.Target}{(command.Reason is null ? "" : $": {command.Reason}")}"), cancellationToken);
        var started = await session.LoadAsync<Replay>(command.ReplayId!, cancellationToken);
        return TypedResults.Accepted($"/api/replays/{command.ReplayId}", started is null ? null : ReplayView.Of(started, clock.GetUtcNow()));
    }

    private static async Task<IResult> PlanAsync(HttpRequest http, ReplayLog log, CancellationToken cancellationToken)
    {
        var (command, problem) = await CommandAsync(http, null, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        var selection = ReplayRules.Selection(command!, long.MaxValue);
        var (to, total) = await log.PlanAsync(selection, cancellationToken)
            ?? throw new TimeoutException("The event store's safe head is not known yet.");
        var batchSize = command!.BatchSize ?? ReplayRules.DefaultBatchSize;
        return TypedResults.Ok(new ReplayPlan(total, (total + batchSize - 1) / batchSize, selection.FromPosition, to));
    }

    // The request as a command from this caller, checked: or the problem with it.
    private static async Task<(StartReplay? Command, IResult? Problem)> CommandAsync(HttpRequest http,
        IReadOnlyDictionary<string, string>? refused, CancellationToken cancellationToken)
    {
        var (request, problem) = await JsonBody.ReadAsync<ReplayRequest>(http, cancellationToken, refused);
        if (problem is not null)
        {
            return (null, problem);
        }

        var command = request!.ToCommand(ReplayRules.Requester(http.HttpContext.Actor()), http.Headers[RequestedByHeader].FirstOrDefault());
        var errors = ReplayRules.Validate(command);
        return errors.Count > 0
            ? (null, TypedResults.ValidationProblem(errors, title: "The replay request is not valid."))
            : (command, null);
    }

    // The limit is parsed here rather than bound, so a bad one (not a number, given twice) is a 400 that names it.
    private static async Task<IResult> ListAsync(IQuerySession session, TimeProvider clock, CancellationToken cancellationToken,
        string? limit = null)
    {
        var take = 50;
        // Digits only: .NET's parsing also takes trailing NUL characters ("1%00").
        if (limit is not null && (!limit.All(char.IsAsciiDigit) || !int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out take)
                                  || take is < 1 or > 1000))
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["limit"] = ["limit is 1 to 1000."] },
                title: "The request is invalid");
        }

        var replays = await NewestAsync(session, take, cancellationToken);
        var now = clock.GetUtcNow();
        return TypedResults.Ok(new ReplayList([.. replays.Select(replay => ReplayView.Of(replay, now))]));
    }

    /// <summary>The history, newest first.</summary>
    public static Task<IReadOnlyList<Replay>> NewestAsync(IQuerySession session, int limit, CancellationToken cancellationToken) =>
        session.Query<Replay>().OrderByDescending(replay => replay.RequestedAt).Take(limit).ToListAsync(cancellationToken);

    private static async Task<IResult> ShowAsync(string id, IQuerySession session, TimeProvider clock, CancellationToken cancellationToken) =>
        await session.LoadAsync<Replay>(id, cancellationToken) is { } replay
            ? TypedResults.Ok(ReplayView.Of(replay, clock.GetUtcNow()))
            : TypedResults.Problem(statusCode: 404, title: "No such replay.", detail: $"Replay {id} does not exist.");

    private static async Task<IResult> ControlAsync(string id, string action, object command, HttpContext http, IMessageBus bus,
        IQuerySession session, AuditLog audit, CancellationToken cancellationToken)
    {
        if (await session.LoadAsync<Replay>(id, cancellationToken) is null)
        {
            return TypedResults.Problem(statusCode: 404, title: "No such replay.", detail: $"Replay {id} does not exist.");
        }

        await bus.InvokeAsync(command, cancellationToken);
        await audit.RecordAsync(AuditEntry.Of(http, $"replay.{action}", id), cancellationToken);
        return TypedResults.Accepted($"/api/replays/{id}");
    }

    private static bool Same(Replay replay, StartReplay command) =>
        replay.Target == command.Target && replay.Mode == command.Mode
        && replay.Selection.FromPosition == (command.FromPosition ?? 1)
        && (command.ToPosition is null || replay.Selection.ToPosition <= command.ToPosition)
        && replay.BatchSize == (command.BatchSize ?? ReplayRules.DefaultBatchSize);
}
