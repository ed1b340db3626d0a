using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace EventReplay.Hosting;

/// <summary>Knows, to within a second, whether a PostgreSQL database answers; lets a service label what it serves from elsewhere.</summary>
public abstract partial class DatabaseMonitor(NpgsqlDataSource dataSource, string database, ILogger logger) : BackgroundService
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
                LogChanged(logger, database, reachable);
            }

            _reachable = reachable;
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "PostgreSQL database {Database} reachable: {Reachable}")]
    private static partial void LogChanged(ILogger logger, string database, bool reachable);
}

/// <summary>Whether the service's own database (a consumer's read models) answers.</summary>
public sealed class PostgresMonitor(NpgsqlDataSource dataSource, ILogger<PostgresMonitor> logger)
    : DatabaseMonitor(dataSource, Databases.ReadModels, logger);

/// <summary>Whether the event store answers, seen from a consumer: while it does not, no new event can exist.</summary>
public sealed class EventStoreMonitor(EventStoreSource eventStore, ILogger<EventStoreMonitor> logger)
    : DatabaseMonitor(eventStore.DataSource, Databases.EventStore, logger);
