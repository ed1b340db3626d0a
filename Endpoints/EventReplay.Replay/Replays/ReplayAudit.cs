using EventReplay.Hosting.Security;
using Marten;
using Wolverine;

namespace EventReplay.Replay.Replays;

/// <summary>
/// Replay commands that came over AMQP (<c>replay.commands</c>): who sent them is the broker's validated <c>user_id</c>
/// (<see cref="Envelope.UserName"/>, mapped from the AMQP property alone), and their audit entry is written with the
/// saga's own commit. Commands over HTTP are audited by the API, which knows the caller's token.
/// </summary>
public static class ReplayAudit
{
    public static bool CameOverAmqp(Envelope envelope) => envelope.Destination?.Scheme == "rabbitmq";

    /// <summary>The requester of an AMQP command: <c>amqp:{user}</c>, or <c>amqp:unknown</c> when the publisher did not set <c>user_id</c>.</summary>
    public static string AmqpRequester(Envelope envelope) =>
        $"amqp:{(string.IsNullOrEmpty(envelope.UserName) ? "unknown" : ReplayRules.Requester(envelope.UserName))}";

    public static void Queue(IDocumentSession session, Envelope envelope, string action, string target, string? onBehalfOf, string? detail = null) =>
        session.QueueSqlCommand(AuditLog.InsertSql, AmqpRequester(envelope), (object?)onBehalfOf ?? DBNull.Value, action, target, "amqp",
            DBNull.Value, (object?)envelope.CorrelationId ?? DBNull.Value, (object?)detail ?? DBNull.Value);

    public static void QueueIfAmqp(IDocumentSession session, Envelope envelope, string action, string replayId)
    {
        if (CameOverAmqp(envelope))
        {
            Queue(session, envelope, action, replayId, null);
        }
    }
}
