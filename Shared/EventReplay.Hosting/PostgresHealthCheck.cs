using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace EventReplay.Hosting;

internal sealed class PostgresHealthCheck(NpgsqlDataSource dataSource) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        await PostgresPing.FailureAsync(dataSource, TimeSpan.FromSeconds(2), cancellationToken) is { } failure
            ? HealthCheckResult.Unhealthy("PostgreSQL is unreachable.", failure)
            : HealthCheckResult.Healthy();
}
