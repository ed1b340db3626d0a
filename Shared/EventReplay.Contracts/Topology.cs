namespace EventReplay.Contracts;

/// <summary>RabbitMQ names shared by the publisher and the consumers.</summary>
public static class Topology
{
    /// <summary>Fanout exchange that every committed event is published to, in position order.</summary>
    public const string EventsExchange = "events";

    /// <summary>AMQP <c>type</c> property of an event message.</summary>
    public const string RecordedEventType = nameof(RecordedEvent);

    public static readonly IReadOnlyList<string> Consumers = ["balances", "statistics"];

    /// <summary>A consumer's own queue of live events (bound to <see cref="EventsExchange"/>).</summary>
    public static string LiveQueue(string consumer) => $"{consumer}.live";

    /// <summary>Where a consumer puts messages it can never apply, with the reason in the <c>x-reason</c> header.</summary>
    public static string DeadLetterQueue(string consumer) => $"{consumer}.dead";
}
