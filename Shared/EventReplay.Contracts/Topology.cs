namespace EventReplay.Contracts;

/// <summary>RabbitMQ names shared by the publisher and the consumers.</summary>
public static class Topology
{
    /// <summary>Fanout exchange that every committed event is published to, in position order.</summary>
    public const string EventsExchange = "events";

    /// <summary>
    /// AMQP <c>type</c> property of a message of one event: what a consumer sets aside and the monitor sends again. The
    /// producer publishes batch messages (<see cref="ReplayBatchType"/>, replay id and mode <see cref="LiveBatch"/>).
    /// </summary>
    public const string RecordedEventType = nameof(RecordedEvent);

    /// <summary>Replay id and mode of the producer's batch messages of live events on <see cref="EventsExchange"/>.</summary>
    public const string LiveBatch = "live";

    /// <summary>Header of a batch message: how many events it carries, so a consumer gathers batches by events, not messages.</summary>
    public const string EventCountHeader = "x-events";

    public static readonly IReadOnlyList<string> Consumers = ["balances", "statistics"];

    /// <summary>A consumer's own queue of live events (bound to <see cref="EventsExchange"/>).</summary>
    public static string LiveQueue(string consumer) => $"{consumer}.live";

    /// <summary>Where a consumer puts messages it can never apply, with the reason in the <c>x-reason</c> header.</summary>
    public static string DeadLetterQueue(string consumer) => $"{consumer}.dead";

    /// <summary>A consumer's own queue of replay batches, so a replay never queues behind live traffic.</summary>
    public static string ReplayQueue(string consumer) => $"{consumer}.replay";

    /// <summary>The replay service's command queue: <c>StartReplay</c>, <c>PauseReplay</c>, <c>ResumeReplay</c>, <c>CancelReplay</c>.</summary>
    public const string ReplayCommandsQueue = "replay.commands";

    /// <summary>
    /// The exchange in front of <see cref="ReplayCommandsQueue"/> (fanout, same name): the way the broker's operator user,
    /// which may publish to it and nothing else, sends replay commands.
    /// </summary>
    public const string ReplayCommandsExchange = "replay.commands";

    /// <summary>Where consumers answer replay batches (<see cref="Replays.ReplayBatchApplied"/>).</summary>
    public const string ReplayAcksQueue = "replay.acks";

    /// <summary>Where the broker puts a replay command or answer that keeps coming back (quorum queues' delivery limit).</summary>
    public const string ReplayDeadLetterQueue = "replay.dead";

    /// <summary>Fanout exchange every process publishes its <see cref="Monitoring.Heartbeat"/> to.</summary>
    public const string HeartbeatsExchange = "monitoring.heartbeats";

    /// <summary>The monitor's queue of heartbeats (bound to <see cref="HeartbeatsExchange"/>).</summary>
    public const string MonitorHeartbeatsQueue = "monitor.heartbeats";

    public const string HeartbeatType = nameof(Monitoring.Heartbeat);

    /// <summary>Fanout exchange where consumers say they applied a message the monitor sent again (<see cref="Monitoring.FailedMessageApplied"/>).</summary>
    public const string FailedMessageOutcomesExchange = "monitoring.outcomes";

    /// <summary>The monitor's queue of those outcomes (bound to <see cref="FailedMessageOutcomesExchange"/>).</summary>
    public const string MonitorOutcomesQueue = "monitor.outcomes";

    public const string FailedMessageAppliedType = nameof(Monitoring.FailedMessageApplied);

    /// <summary>Fanout exchange of replay lifecycle events, for monitoring.</summary>
    public const string ReplayEventsExchange = "replay.events";

    /// <summary>AMQP <c>type</c> of the messages on a consumer's replay queue.</summary>
    public const string ReplayBatchType = nameof(Replays.ReplayBatch);

    public const string RebuildCutOverType = nameof(Replays.RebuildCutOver);

    public const string RebuildAbandonedType = nameof(Replays.RebuildAbandoned);

    /// <summary>
    /// The AMQP <c>type</c> of a consumer's answer on <see cref="ReplayAcksQueue"/>: the record's full name, which is
    /// the name the replay service's message framework knows it by.
    /// </summary>
    public static string AnswerType(Type answer) => answer.FullName!;
}
