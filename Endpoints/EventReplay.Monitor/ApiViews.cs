using EventReplay.Hosting.Security;
using EventReplay.Monitor.Endpoints;
using EventReplay.Monitor.FailedMessages;
using EventReplay.Monitor.Metrics;

namespace EventReplay.Monitor;

// What the monitor's API answers, named so that the public OpenAPI document (and the clients made from it) has a schema for each.

/// <summary><c>GET /api/monitoring/endpoints</c>.</summary>
public sealed record EndpointList(IReadOnlyList<EndpointView> Endpoints);

/// <summary>One process: <c>alive</c>, <c>missing</c> (silent for 15 s) or <c>stopped</c> (said goodbye).</summary>
public sealed record EndpointView(string Endpoint, string InstanceId, string Host, int Pid, string Version, DateTimeOffset StartedAt,
    DateTimeOffset LastSeenAt, string Status, IReadOnlyList<EventReplay.Contracts.Monitoring.HeartbeatCheck> Checks)
{
    public static EndpointView Of(EndpointInstance i, DateTimeOffset now) =>
        new(i.Endpoint, i.InstanceId, i.Host, i.Pid, i.Version, i.StartedAt, i.LastSeenAt, i.StatusAt(now), i.Checks);
}

/// <summary><c>GET /api/monitoring/queues</c>: the latest sample of every queue and of every consumer's lag.</summary>
public sealed record QueueList(IReadOnlyList<QueueView> Queues, IReadOnlyList<ConsumerLagView> Consumers);

public sealed record QueueView(string Queue, long Length, long Ready, long Unacknowledged, int Consumers, double InPerSecond,
    double OutPerSecond, DateTimeOffset SampledAt)
{
    public static QueueView Of(DateTimeOffset at, QueueSample q) =>
        new(q.Queue, q.Length, q.Ready, q.Unacknowledged, q.Consumers, q.InPerSecond, q.OutPerSecond, at);
}

public sealed record ConsumerLagView(string Consumer, long Head, long Checkpoint, long LagEvents, DateTimeOffset SampledAt);

/// <summary><c>GET /api/monitoring/endpoints/{endpoint}/metrics</c>: a point per 5 s over the period.</summary>
public sealed record MetricSeries(string Endpoint, string Period, DateTimeOffset From, DateTimeOffset To, IReadOnlyList<MetricPoint> Points);

/// <summary><c>GET /api/failed-messages</c>; <c>next</c> is the <c>after</c> of the following page.</summary>
public sealed record FailedMessagePage(IReadOnlyList<FailedMessageSummary> Items, string? Next);

/// <summary><c>GET /api/failed-messages/groups</c>.</summary>
public sealed record FailureGroupList(IReadOnlyList<FailureGroupSummary> Groups);

/// <summary>A failed message in full: the body as text (<c>utf-8</c>) or <c>base64</c>, headers, what happened to it, edits.</summary>
public sealed record FailedMessageView(Guid Id, string Status, string Source, string Queue, string Endpoint, string MessageType,
    string? StreamId, long? Version, long? Position, string Reason, string GroupId, int Attempts, DateTimeOffset FirstFailedAt,
    DateTimeOffset FailedAt, bool Edited, string FoundIn, string? AmqpType, string? ContentType, string Body, string BodyEncoding,
    IReadOnlyDictionary<string, string> Headers, IReadOnlyList<FailedMessageEvent> History, IReadOnlyList<FailedMessageEdit> Edits);

/// <summary>A retry sent: the attempt and the queue it went to.</summary>
public sealed record RetrySent(Guid Id, string Status, int Attempt, string Queue);

/// <summary>A message archived or unarchived.</summary>
public sealed record ArchiveDone(Guid Id, string Status);

/// <summary>A group archived or unarchived: how many messages changed.</summary>
public sealed record GroupArchiveDone(string GroupId, int Changed, string Status);

/// <summary>A bulk retry job and how far it is.</summary>
public sealed record RetryJobView(Guid JobId, string Status, string Selection, int Total, int Sent, int Skipped, DateTimeOffset RequestedAt,
    string RequestedBy, DateTimeOffset? FinishedAt)
{
    public static RetryJobView Of(RetryJob job) =>
        new(job.Id, job.Status, job.Selection, job.Total, job.Sent, job.Skipped, job.RequestedAt, job.RequestedBy, job.FinishedAt);
}

/// <summary><c>GET /api/audit</c>, newest first; <c>next</c> is the <c>before</c> of the following page.</summary>
public sealed record AuditPage(IReadOnlyList<AuditRecord> Entries, string? Next);

/// <summary>
/// <c>POST /api/failed-messages/{id}/edit-and-retry</c>: the replacement body (JSON when the message is JSON) and, if given,
/// the headers to send instead of the original's (not the broker's, nor the monitor's own).
/// </summary>
public sealed record EditAndRetryBody(string Body, IReadOnlyDictionary<string, string>? Headers);

/// <summary><c>POST /api/failed-messages/retry</c>: either the ids (1 to 1000) or a group, not both.</summary>
public sealed record BulkRetryBody(IReadOnlyList<Guid>? Ids, string? GroupId);
