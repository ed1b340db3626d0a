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
            var reachable = await PingAsync(stoppingToken);
            if (reachable != _reachable)
            {
                LogChanged(reachable);
            }

            _reachable = reachable;
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    private async Task<bool> PingAsync(CancellationToken stoppingToken)
    {
        using var work = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        work.CancelAfter(TimeSpan.FromSeconds(1));
        wait.CancelAfter(TimeSpan.FromSeconds(1));
        try
        {
            await Deadline.Within(Ping(work.Token), wait.Token);
            return true;
        }
        catch (Exception exception) when (exception is NpgsqlException or OperationCanceledException or TimeoutException
            && !stoppingToken.IsCancellationRequested)
        {
            return false;
        }
    }

    private async Task<object?> Ping(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("select 1");
        return await command.ExecuteScalarAsync(cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "PostgreSQL reachable: {Reachable}")]
    private partial void LogChanged(bool reachable);
}
