using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace EventReplay.Hosting;

/// <summary>Knows, to within a second, whether PostgreSQL answers; lets a service label what it serves from elsewhere.</summary>
public sealed partial class PostgresMonitor(NpgsqlDataSource dataSource, ILogger<PostgresMonitor> logger) : BackgroundService
{
    private volatile bool _reachable = true;

    public bool IsReachable => _reachable;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        do
        {
            var reachable = await PostgresPing.FailureAsync(dataSource, TimeSpan.FromSeconds(1), stoppingToken) is null;
            if (reachable != _reachable)
            {
                LogChanged(reachable);
            }

            _reachable = reachable;
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "PostgreSQL reachable: {Reachable}")]
    private partial void LogChanged(bool reachable);
}
