using System.Globalization;
using System.Text;
using EventReplay.Contracts.Monitoring;
using EventReplay.Hosting;
using RabbitMQ.Client;

namespace EventReplay.Monitor.FailedMessages;

/// <summary>The outcome of a retry request.</summary>
public sealed record RetryOutcome(ClaimRefusal Refusal, string? Status, RetryClaim? Sent);

/// <summary>
/// Sends a failed message again: claimed in the store first (so two retries at once send it once), then published to
/// the queue that takes it with its own headers, the failed message's id and the attempt, and the broker's confirm
/// awaited. A publish that fails gives the claim back and throws (the caller answers 503).
/// </summary>
public sealed partial class FailedMessageRetrier(FailedMessageStore store, IConnectionFactory rabbit, ILogger<FailedMessageRetrier> logger)
    : IAsyncDisposable
{
    private readonly ConfirmedChannel _channel = new(rabbit, "retries of failed messages", logger);

    // Headers a consumer or the broker added when setting the message aside: not the message's own.
    private static readonly string[] SetAsideHeaders =
    [
        FailedMessageHeaders.Reason, FailedMessageHeaders.Consumer, FailedMessageHeaders.OriginalQueue, FailedMessageHeaders.FailedAt,
        FailedMessageHeaders.FailedMessageId, FailedMessageHeaders.Attempt,
    ];

    public async Task<RetryOutcome> RetryAsync(Guid id, string actor, (byte[] Body, IReadOnlyDictionary<string, string>? Headers)? edit,
        CancellationToken cancellationToken)
    {
        var (claim, refusal, status) = await store.ClaimRetryAsync(id, actor, edit, cancellationToken);
        if (claim is null)
        {
            return new RetryOutcome(refusal, status, null);
        }

        try
        {
            await PublishAsync(claim, cancellationToken);
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogNotSent(exception, id);
            await store.ReleaseRetryAsync(claim, $"{exception.GetType().Name}: {exception.Message}", CancellationToken.None);
            throw new DependencyDownException("RabbitMQ did not take the retried message; try again.", exception);
        }

        return new RetryOutcome(ClaimRefusal.None, FailedMessageStatus.Retrying, claim);
    }

    /// <summary>
    /// Retries a bulk retry's chunk: claimed in one transaction, published together with their confirms awaited
    /// together; a claim whose publish failed is given back. Returns how many were sent and how many were skipped (not
    /// unresolved by then); throws when the broker took none of them.
    /// </summary>
    public async Task<(int Sent, int Skipped)> RetryManyAsync(IReadOnlyList<Guid> ids, string actor, CancellationToken cancellationToken)
    {
        var claims = await store.ClaimRetriesAsync(ids, actor, cancellationToken);
        if (claims.Count == 0)
        {
            return (0, ids.Count);
        }

        Exception? failure = null;
        var sent = 0;
        try
        {
            await _channel.WithChannelAsync(async channel =>
            {
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                deadline.CancelAfter(BrokerSafety.ConfirmTimeout);
                var publishes = claims.Select(claim => channel.BasicPublishAsync("", claim.Queue, mandatory: true, Properties(claim), claim.Body,
                    deadline.Token).AsTask()).ToList();
                for (var i = 0; i < claims.Count; i++)
                {
                    try
                    {
                        await publishes[i];
                        sent++;
                    }
                    catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                    {
                        failure ??= exception;
                        await store.ReleaseRetryAsync(claims[i], $"{exception.GetType().Name}: {exception.Message}", CancellationToken.None);
                    }
                }

                if (failure is not null)
                {
                    throw failure; // the channel is closed: the next retry starts on a fresh one
                }
            }, cancellationToken);
        }
        catch (Exception exception) when (ReferenceEquals(exception, failure))
        {
            // Counted below.
        }

        if (failure is not null)
        {
            LogNotSent(failure, claims[0].Id);
            if (sent == 0)
            {
                throw new DependencyDownException("RabbitMQ did not take the retried messages; try again.", failure);
            }
        }

        return (sent, ids.Count - claims.Count);
    }

    private Task PublishAsync(RetryClaim claim, CancellationToken cancellationToken) =>
        _channel.PublishAsync("", claim.Queue, mandatory: true, Properties(claim), claim.Body, cancellationToken, TimeSpan.FromSeconds(5));

    /// <summary>The message's own headers (not those added when it was set aside), the failed message's id and the attempt.</summary>
    private BasicProperties Properties(RetryClaim claim)
    {
        var headers = new Dictionary<string, object?>();
        foreach (var (name, value) in claim.Headers)
        {
            if (!SetAsideHeaders.Contains(name) && !FailedMessageHeaders.IsBrokers(name))
            {
                headers[name] = Encoding.UTF8.GetBytes(value);
            }
        }

        headers[FailedMessageHeaders.FailedMessageId] = claim.Id.ToString();
        headers[FailedMessageHeaders.Attempt] = claim.Attempt.ToString(CultureInfo.InvariantCulture);
        return new BasicProperties
        {
            Persistent = true,
            ContentType = claim.ContentType ?? "application/json",
            Type = claim.AmqpType,
            // The replay service's framework takes this as the envelope's id: a retry that fails there again is found by it.
            MessageId = claim.RetryMessageId.ToString(),
            Headers = headers,
            // The monitor's own user (the broker refuses another): consumers take a retry from it as from the original sender.
            UserId = rabbit.UserName,
        };
    }

    public ValueTask DisposeAsync() => _channel.DisposeAsync();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Failed message {Id} could not be sent again")]
    private partial void LogNotSent(Exception exception, Guid id);
}
