using EventReplay.Contracts.Monitoring;
using Microsoft.Extensions.Configuration;

namespace EventReplay.Hosting;

/// <summary>
/// The broker users of the services (<c>Broker:Users:…</c>; eng/services.sh makes them, each with its own password and
/// permissions), and what a consumer takes from whom. RabbitMQ refuses a message whose AMQP <c>user_id</c> is not its
/// connection's user, so <c>user_id</c> says who published a message and cannot be made up: live events are taken from
/// the producer only, rebuild batches and cut-overs from the replay service only, and either from the monitor when it
/// sends a failed message again (an operator's retry). Anything else is set aside as a failed message with the reason.
/// </summary>
public sealed record BrokerUsers(string Producer, string Replay, string Monitor)
{
    public const string DefaultProducer = "er-producer";

    public const string DefaultReplay = "er-replay";

    public const string DefaultMonitor = "er-monitor";

    public const string DefaultGateway = "er-gateway";

    /// <summary>The broker user of people and scripts that send replay commands: it may publish to the <c>replay.commands</c> exchange and nothing else.</summary>
    public const string DefaultOperator = "er-operator";

    /// <summary>A consumer's own broker user.</summary>
    public static string DefaultConsumer(string consumer) => $"er-{consumer}";

    public static BrokerUsers From(IConfiguration configuration) => new(
        configuration["Broker:Users:Producer"] ?? DefaultProducer,
        configuration["Broker:Users:Replay"] ?? DefaultReplay,
        configuration["Broker:Users:Monitor"] ?? DefaultMonitor);

    /// <summary>Why a live event from <paramref name="userId"/> with these headers is not taken (null: it is).</summary>
    public string? RefusesLive(string? userId, IDictionary<string, object?>? headers) =>
        Takes(Producer, userId, headers)
            ? null
            : $"Not published by the producer: user_id {Describe(userId)} (live events are taken from '{Producer}' only).";

    /// <summary>Why a message of a consumer's replay queue from <paramref name="userId"/> with these headers is not taken (null: it is).</summary>
    public string? RefusesControl(string? userId, IDictionary<string, object?>? headers) =>
        Takes(Replay, userId, headers)
            ? null
            : $"Not sent by the replay service: user_id {Describe(userId)} (batches and cut-overs are taken from '{Replay}' only).";

    // The sender's own user; the monitor's when it sends a failed message again (its headers say which one: read only then).
    private bool Takes(string sender, string? userId, IDictionary<string, object?>? headers) =>
        userId == sender || (userId == Monitor && FailedMessageHeaders.Text(headers, FailedMessageHeaders.FailedMessageId) is not null);

    private static string Describe(string? userId) => userId is null ? "not set" : $"'{userId}'";
}
