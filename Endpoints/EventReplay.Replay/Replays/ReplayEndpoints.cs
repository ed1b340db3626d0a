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

/// <summary>The body of <c>POST /api/replays</c>: a <see cref="StartReplay"/> plus <c>dryRun</c>.</summary>
public sealed record ReplayRequest(string? ReplayId, string? Target, string? Mode, long? FromPosition, long? ToPosition,
    DateTimeOffset? FromTime, DateTimeOffset? ToTime, string[]? StreamIds, string[]? EventTypes, int? BatchSize,
    int? MaxEventsPerSecond, string? Reason, bool DryRun = false)
{
    public StartReplay ToCommand(string requestedBy, string? onBehalfOf) => new(ReplayId, Target, Mode, FromPosition, ToPosition, FromTime,
        ToTime, StreamIds, EventTypes, BatchSize, MaxEventsPerSecond, Reason, requestedBy, onBehalfOf);
}

public static class ReplayEndpoints
{
    public const string RequestedByHeader = "X-Requested-By";

    public static void MapReplays(this WebApplication app)
    {
        var replays = app.MapGroup("/api/replays").WithTags("Replays");
        replays.MapPost("", StartAsync).Accepts<ReplayRequest>("application/json").RequireAuthorization(Policies.Operate);
        replays.MapGet("", ListAsync).RequireAuthorization(Policies.Read);
        replays.MapGet("/{id}", ShowAsync).RequireAuthorization(Policies.Read);
        replays.MapPost("/{id}/pause", (string id, HttpContext http, IMessageBus bus, IQuerySession session, AuditLog audit, CancellationToken ct) =>
            ControlAsync(id, "pause", new PauseReplay(id), http, bus, session, audit, ct)).RequireAuthorization(Policies.Operate);
        replays.MapPost("/{id}/resume", (string id, HttpContext http, IMessageBus bus, IQuerySession session, AuditLog audit, CancellationToken ct) =>
            ControlAsync(id, "resume", new ResumeReplay(id), http, bus, session, audit, ct)).RequireAuthorization(Policies.Operate);
        replays.MapPost("/{id}/cancel", (string id, HttpContext http, IMessageBus bus, IQuerySession session, AuditLog audit, CancellationToken ct) =>
            ControlAsync(id, "cancel", new CancelReplay(id), http, bus, session, audit, ct)).RequireAuthorization(Policies.Operate);
    }

    private static async Task<IResult> StartAsync(HttpRequest http, IMessageBus bus, IQuerySession session, ReplayLog log, AuditLog audit,
        TimeProvider clock, CancellationToken cancellationToken)
    {
        var (request, problem) = await JsonBody.ReadAsync<ReplayRequest>(http, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        var command = request!.ToCommand(ReplayRules.Requester(http.HttpContext.Actor()), http.Headers[RequestedByHeader].FirstOrDefault());
        var errors = ReplayRules.Validate(command);
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors, title: "The replay request is not valid.");
        }

        if (request.DryRun)
        {
            var selection = ReplayRules.Selection(command, long.MaxValue);
            var (to, total) = await log.PlanAsync(selection, cancellationToken)
                ?? throw new TimeoutException("The event store's safe head is not known yet.");
            var batchSize = command.BatchSize ?? ReplayRules.DefaultBatchSize;
            return TypedResults.Ok(new { eventsTotal = total, batches = (total + batchSize - 1) / batchSize, fromPosition = selection.FromPosition, toPosition = to });
        }

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
        return TypedResults.Ok(new { replays = replays.Select(replay => ReplayView.Of(replay, now)) });
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
