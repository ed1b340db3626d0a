using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace EventReplay.Hosting;

internal sealed class PostgresHealthCheck(NpgsqlDataSource dataSource) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            await Deadline.Within(PingAsync(timeout.Token), timeout.Token);
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
