using System.Text.RegularExpressions;
using EventReplay.Contracts;
using EventReplay.Contracts.Replays;
using Marten;

namespace EventReplay.Replay.Replays;

/// <summary>What makes a replay request valid, the same for HTTP and AMQP; each problem is named by its field.</summary>
public static partial class ReplayRules
{
    public const int DefaultBatchSize = 500;
    public const int MaxBatchSize = 10_000;

    public static Dictionary<string, string[]> Validate(StartReplay request)
    {
        var errors = new Dictionary<string, string[]>();
        void Add(string field, string message) => errors[field] = [.. errors.GetValueOrDefault(field, []), message];

        if (request.ReplayId is { } id && !IdPattern().IsMatch(id))
        {
            Add("replayId", "A replay id is 1 to 64 letters, digits, '-' or '_'.");
        }

        if (string.IsNullOrEmpty(request.Target))
        {
            Add("target", $"A target consumer is required: one of {string.Join(", ", Topology.Consumers)}.");
        }
        else if (!Topology.Consumers.Contains(request.Target))
        {
            Add("target", $"Unknown target '{request.Target}': one of {string.Join(", ", Topology.Consumers)}.");
        }

        if (string.IsNullOrEmpty(request.Mode) || !ReplayModes.All.Contains(request.Mode))
        {
            Add("mode", $"The mode is one of {string.Join(", ", ReplayModes.All)}.");
        }
        else if (request.Mode == ReplayModes.Rebuild && (request.FromPosition is not null || request.ToPosition is not null
                     || request.FromTime is not null || request.ToTime is not null || request.StreamIds is not null || request.EventTypes is not null))
        {
            Add("mode", "A rebuild replays the whole log into a fresh copy: fromPosition, toPosition, fromTime, toTime, streamIds and eventTypes are refused.");
        }

        if (request.FromPosition is < 1)
        {
            Add("fromPosition", "Positions start at 1.");
        }

        if (request.ToPosition is < 1)
        {
            Add("toPosition", "Positions start at 1.");
        }

        if (request.FromPosition is { } from && request.ToPosition is { } to && from > to)
        {
            Add("fromPosition", $"fromPosition {from} is after toPosition {to}.");
        }

        if (request.FromTime is { } fromTime && request.ToTime is { } toTime && fromTime > toTime)
        {
            Add("fromTime", "fromTime is after toTime.");
        }

        if (request.BatchSize is < 1 or > MaxBatchSize)
        {
            Add("batchSize", $"The batch size is 1 to {MaxBatchSize:N0}.");
        }

        if (request.MaxEventsPerSecond is < 1)
        {
            Add("maxEventsPerSecond", "The rate limit is at least 1 event per second.");
        }

        if (request.StreamIds is { } streams && (streams.Length == 0 || streams.Any(string.IsNullOrEmpty)))
        {
            Add("streamIds", "Stream ids, when given, are a non-empty list of non-empty ids.");
        }

        if (request.EventTypes is { } types && (types.Length == 0 || types.Any(string.IsNullOrEmpty)))
        {
            Add("eventTypes", "Event types, when given, are a non-empty list of non-empty names.");
        }

        return errors;
    }

    /// <summary>The selection a valid request asks for; the end defaults to the store's safe head, found when it starts.</summary>
    public static ReplaySelection Selection(StartReplay request, long head) => new(
        request.FromPosition ?? 1,
        Math.Min(request.ToPosition ?? head, head),
        request.FromTime,
        request.ToTime,
        request.StreamIds,
        request.EventTypes);

    /// <summary>Another rebuild of the same target that has not ended, if any (one rebuild per target at a time).</summary>
    public static async Task<Replay?> RunningRebuildAsync(IQuerySession session, string replayId, CancellationToken cancellationToken)
    {
        var replay = await session.LoadAsync<Replay>(replayId, cancellationToken);
        if (replay is null || replay.Mode != ReplayModes.Rebuild)
        {
            return null;
        }

        return await RunningRebuildAsync(session, replay.Target, replay.RequestedAt, replayId, cancellationToken);
    }

    public static async Task<Replay?> RunningRebuildAsync(IQuerySession session, string target, DateTimeOffset before, string? except,
        CancellationToken cancellationToken) =>
        await session.Query<Replay>()
            .Where(r => r.Target == target && r.Mode == ReplayModes.Rebuild && r.Id != except && r.RequestedAt <= before
                && (r.Status == ReplayStatus.Requested || r.Status == ReplayStatus.Running || r.Status == ReplayStatus.Paused))
            .FirstOrDefaultAsync(cancellationToken);

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex IdPattern();
}
