using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace EventReplay.Hosting;

internal sealed class PostgresHealthCheck(NpgsqlDataSource dataSource) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        // Separate timers for the query and for giving up on it: cancelling a query can block its token's callbacks.
        using var work = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        work.CancelAfter(TimeSpan.FromSeconds(2));
        wait.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            await Deadline.Within(PingAsync(work.Token), wait.Token);
            return HealthCheckResult.Healthy();
        }
        catch (Exception exception) when (exception is NpgsqlException or OperationCanceledException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy("PostgreSQL is unreachable.", exception);
        }
    }

    private async Task<object?> PingAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("select 1");
        return await command.ExecuteScalarAsync(cancellationToken);
    }
}
