using Microsoft.Extensions.Logging;
using RabbitMQ.Client.Exceptions;

namespace EventReplay.Hosting;

/// <summary>
/// Start-up work that needs PostgreSQL or RabbitMQ (creating a read model's tables, declaring queues): a dependency
/// that is not answering yet (still booting, or a machine too busy to answer within the connect timeout) is waited
/// for with back-off instead of ending the process, for up to <see cref="Limit"/>; then the start fails with the cause.
/// </summary>
public static partial class DependencyWait
{
    public static readonly TimeSpan Limit = TimeSpan.FromMinutes(2);

    public static async Task UntilDoneAsync(Func<CancellationToken, Task> work, ILogger logger, string what, CancellationToken cancellationToken)
    {
        var deadline = DateTimeOffset.UtcNow + Limit;
        for (var delay = TimeSpan.FromMilliseconds(500); ; delay = Backoff.Next(delay))
        {
            try
            {
                await work(cancellationToken);
                return;
            }
            catch (Exception exception) when ((DependencyFailure.IsDependencyDown(exception) || exception is BrokerUnreachableException)
                && DateTimeOffset.UtcNow + delay < deadline && !cancellationToken.IsCancellationRequested)
            {
                LogWaiting(logger, exception, what, delay.TotalMilliseconds);
                await Task.Delay(delay, cancellationToken);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Start-up step '{What}' could not reach a dependency; trying again in {DelayMs} ms")]
    private static partial void LogWaiting(ILogger logger, Exception exception, string what, double delayMs);
}
