using System.Diagnostics;
using System.Runtime;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace EventReplay.Hosting;

/// <summary>
/// One-time work that a service's first requests would otherwise do inside their deadline: the JIT compiling the
/// code of a request's path (about 1,900 methods for the first <c>POST /api/replays</c>), Marten building its storage
/// for a document type, a first query's LINQ parsing, serializers' metadata. It must leave nothing behind: read what
/// does not exist, write in a transaction that is rolled back.
/// </summary>
public interface IWarmUp
{
    Task RunAsync(CancellationToken cancellationToken);
}

public static class WarmUpSetup
{
    /// <summary>
    /// Runs <typeparamref name="T"/> while the host starts, after the hosted services registered before this call
    /// (register it after Marten and Wolverine) and before the server listens, so <c>/health/ready</c> answers only
    /// once the first requests are as cheap as later ones. <c>WarmUp:Enabled=false</c> skips it (to measure a cold start).
    /// </summary>
    public static IServiceCollection AddWarmUp<T>(this IServiceCollection services) where T : class, IWarmUp
    {
        services.AddSingleton<IWarmUp, T>();
        services.AddHostedService<WarmUpService>();
        return services;
    }
}

internal sealed partial class WarmUpService(IEnumerable<IWarmUp> warmUps, IConfiguration configuration, ILogger<WarmUpService> logger)
    : IHostedService
{
    // A database that does not answer at start must not keep the service from starting: its first requests are slower.
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!configuration.GetValue("WarmUp:Enabled", true))
        {
            return;
        }

        foreach (var warmUp in warmUps)
        {
            var started = Stopwatch.GetTimestamp();
            var compiled = JitInfo.GetCompiledMethodCount();
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            limit.CancelAfter(Limit);
            try
            {
                await warmUp.RunAsync(limit.Token);
                LogWarmedUp(warmUp.GetType().Name, Stopwatch.GetElapsedTime(started).TotalMilliseconds,
                    JitInfo.GetCompiledMethodCount() - compiled);
            }
            catch (Exception exception) when (!cancellationToken.IsCancellationRequested)
            {
                LogFailed(exception, warmUp.GetType().Name);
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "{WarmUp} done in {Milliseconds:0} ms ({Methods} methods compiled meanwhile)")]
    private partial void LogWarmedUp(string warmUp, double milliseconds, long methods);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{WarmUp} failed; the first requests will do that work themselves")]
    private partial void LogFailed(Exception exception, string warmUp);
}
