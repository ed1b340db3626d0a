using System.Text.RegularExpressions;
using EventReplay.Contracts;
using EventReplay.Contracts.Accounts;
using EventReplay.Contracts.Replays;
using EventReplay.Hosting;
using Marten;

namespace EventReplay.Replay.Replays;

/// <summary>What makes a replay request valid, the same for HTTP and AMQP; each problem is named by its field.</summary>
public static partial class ReplayRules
{
    public const int DefaultBatchSize = 500;
    public const int MaxBatchSize = 10_000;

    /// <summary>
    /// Bounds on what a replay keeps in its saga document (written again at every step): an AMQP command, unlike an
    /// HTTP body, has no size limit of its own.
    /// </summary>
    public const int MaxListLength = 1_000;

    public const int MaxReasonLength = 1_000;
    public const int MaxRequestedByLength = 200;

    public static Dictionary<string, string[]> Validate(StartReplay request)
    {
        var errors = new Dictionary<string, string[]>();
        void Add(string field, string message) => errors[field] = [.. errors.GetValueOrDefault(field, []), message];

        if (request.ReplayId is not null && !IsId(request.ReplayId))
        {
            Add("replayId", "A replay id is 1 to 64 letters, digits, '-' or '_'.");
        }

        if (string.IsNullOrEmpty(request.Target))
        {
            Add("target", $"A target consumer is required: one of {string.Join(", ", Topology.Consumers)}.");
        }
        else if (!Topology.Consumers.Contains(request.Target))
        {
            Add("target", $"Unknown target '{Shown(request.Target)}': one of {string.Join(", ", Topology.Consumers)}.");
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

        // Streams are accounts, and types the recorded ones: anything else would select nothing, silently.
        if (request.StreamIds is { } streams && (streams.Length is 0 or > MaxListLength || streams.Any(stream => AccountId.Check(stream) is not null)))
        {
            Add("streamIds", $"Stream ids, when given, are 1 to {MaxListLength:N0} account ids (1 to 64 letters, digits, '-' or '_').");
        }

        if (request.EventTypes is { } types && (types.Length is 0 or > MaxListLength || types.Any(type => type is null || !AccountEventTypes.All.ContainsKey(type))))
        {
            Add("eventTypes", $"Event types, when given, are 1 to {MaxListLength:N0} of {string.Join(", ", AccountEventTypes.All.Keys)}.");
        }

        if (!IsText(request.Reason, MaxReasonLength))
        {
            Add("reason", $"The reason is at most {MaxReasonLength:N0} characters, without control characters.");
        }

        if (!IsText(request.RequestedBy, MaxRequestedByLength))
        {
            Add("requestedBy", $"requestedBy is at most {MaxRequestedByLength} characters, without control characters.");
        }

        if (!IsText(request.OnBehalfOf, MaxRequestedByLength))
        {
            Add("onBehalfOf", $"The requester named in X-Requested-By is at most {MaxRequestedByLength} characters, without control characters.");
        }

        return errors;
    }

    /// <summary>A caller's name as a replay keeps it: without control characters, at most <see cref="MaxRequestedByLength"/> characters.</summary>
    public static string Requester(string name) => StoredText.Name(name, MaxRequestedByLength);

    /// <summary>A replay id a request may choose.</summary>
    public static bool IsId(string? id) => id is not null && IdPattern().IsMatch(id);

    /// <summary>Optional text that is kept with a replay: within its length, no control characters (PostgreSQL cannot store a NUL).</summary>
    private static bool IsText(string? text, int maxLength) => text is null || (text.Length <= maxLength && !text.Any(char.IsControl));

    /// <summary>A value as an error message quotes it: control characters escaped, cut after 64 characters.</summary>
    private static string Shown(string value)
    {
        var shown = string.Concat(value.Take(64).Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString()));
        return value.Length > 64 ? shown + "…" : shown;
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

    // \z, not $: $ also matches before a final line feed.
    [GeneratedRegex(@"^[A-Za-z0-9_-]{1,64}\z")]
    private static partial Regex IdPattern();
}
