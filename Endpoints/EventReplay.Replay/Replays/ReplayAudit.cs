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

    /// <summary>The entry, written with the saga's commit; what the sender wrote is kept as the trail keeps values (<see cref="AuditEntry.Kept"/>).</summary>
    public static void Queue(IDocumentSession session, Envelope envelope, string action, string target, string? onBehalfOf, string? detail = null) =>
        session.QueueSqlCommand(AuditLog.InsertSql, AuditEntry.Kept(AmqpRequester(envelope))!, (object?)AuditEntry.Kept(onBehalfOf) ?? DBNull.Value,
            action, AuditEntry.Kept(target)!, "amqp", DBNull.Value, (object?)AuditEntry.Kept(envelope.CorrelationId) ?? DBNull.Value,
            (object?)AuditEntry.Kept(detail) ?? DBNull.Value);

    public static void QueueIfAmqp(IDocumentSession session, Envelope envelope, string action, string replayId)
    {
        if (CameOverAmqp(envelope))
        {
            Queue(session, envelope, action, replayId, null);
        }
    }
}
