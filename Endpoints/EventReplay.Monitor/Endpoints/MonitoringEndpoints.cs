namespace EventReplay.Monitor.Endpoints;

public static class MonitoringEndpoints
{
    public static WebApplication MapMonitoring(this WebApplication app)
    {
        // Every process heard from in the last day, by endpoint: alive, missing (silent for 15 s) or stopped (said goodbye).
        app.MapGet("/api/monitoring/endpoints", async (EndpointStore store, TimeProvider clock, CancellationToken ct) =>
        {
            var now = clock.GetUtcNow();
            var instances = await store.ListAsync(ct);
            return TypedResults.Ok(new
            {
                endpoints = instances.Select(i => new
                {
                    i.Endpoint, i.InstanceId, i.Host, i.Pid, i.Version, i.StartedAt, i.LastSeenAt, Status = i.StatusAt(now), i.Checks,
                }),
            });
        });
        return app;
    }
}
