using System.Diagnostics;

namespace EventReplay.Hosting;

/// <summary>
/// Waits that grow after each failure (doubling, at most 5 s), and the loop every long-running worker (publisher,
/// queue consumers) keeps itself alive with: run, and after a failure wait and run again until the host stops.
/// </summary>
public static class Backoff
{
    public static readonly TimeSpan Max = TimeSpan.FromSeconds(5);

    // A run that lasted this long before failing was healthy: the waits start from the first again.
    private static readonly TimeSpan Healthy = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan FirstRestart = TimeSpan.FromMilliseconds(250);

    public static TimeSpan Next(TimeSpan delay) => delay * 2 < Max ? delay * 2 : Max;

    /// <summary>Runs <paramref name="run"/> until <paramref name="stoppingToken"/> fires, restarting it after failures.</summary>
    public static async Task RunUntilStoppedAsync(Func<CancellationToken, Task> run, Action<Exception, TimeSpan> failed,
        CancellationToken stoppingToken)
    {
        var delay = FirstRestart;
        while (!stoppingToken.IsCancellationRequested)
        {
            var started = Stopwatch.GetTimestamp();
            try
            {
                await run(stoppingToken);
                delay = FirstRestart;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception)
            {
                if (Stopwatch.GetElapsedTime(started) >= Healthy)
                {
                    delay = FirstRestart;
                }

                failed(exception, delay);
                await Task.Delay(delay, stoppingToken); // back-off before restarting, not synchronisation
                delay = Next(delay);
            }
        }
    }
}
