using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace EventReplay.Hosting;

/// <summary>
/// What keeps a RabbitMQ publisher of ours from waiting in silence. The client waits for a publisher confirm for as
/// long as it takes, and a broker under a memory or disk alarm blocks every publishing connection until the alarm
/// clears: so confirms are waited for at most <see cref="ConfirmTimeout"/> (then the caller's loop starts over on a
/// new connection and publishes again from its checkpoint, which consumers de-duplicate), and a blocked connection
/// is logged with the broker's reason.
/// </summary>
public static partial class BrokerSafety
{
    /// <summary>How long a publish may wait for its confirm; they normally take milliseconds.</summary>
    public static readonly TimeSpan ConfirmTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Runs publishes with a token that gives up after <paramref name="timeout"/> (<see cref="ConfirmTimeout"/> unless
    /// given); an unconfirmed publish is a <see cref="TimeoutException"/> (a dependency failure), a stop request stays a
    /// cancellation.
    /// </summary>
    public static async Task ConfirmedWithinTimeoutAsync(Func<CancellationToken, Task> publish, CancellationToken stoppingToken,
        TimeSpan? timeout = null)
    {
        var limit = timeout ?? ConfirmTimeout;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        deadline.CancelAfter(limit);
        try
        {
            await publish(deadline.Token);
        }
        catch (OperationCanceledException exception) when (!stoppingToken.IsCancellationRequested)
        {
            throw new TimeoutException($"RabbitMQ did not confirm a publish within {limit.TotalSeconds:0.###} s.", exception);
        }
    }

    /// <summary>Logs when the broker blocks this connection's publishes (a resource alarm) and when it lets them go.</summary>
    public static IConnection LogBlocking(this IConnection connection, ILogger logger, string what)
    {
        connection.ConnectionBlockedAsync += (_, blocked) =>
        {
            LogBlocked(logger, what, blocked.Reason);
            return Task.CompletedTask;
        };
        connection.ConnectionUnblockedAsync += (_, _) =>
        {
            LogUnblocked(logger, what);
            return Task.CompletedTask;
        };
        return connection;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "RabbitMQ blocked the connection of {What}: {Reason}; its publishes wait until the alarm clears")]
    private static partial void LogBlocked(ILogger logger, string what, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "RabbitMQ unblocked the connection of {What}")]
    private static partial void LogUnblocked(ILogger logger, string what);
}
