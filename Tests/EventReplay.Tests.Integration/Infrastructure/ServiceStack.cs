namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>
/// The public path as eng/run.sh runs it, on ports of its own: HAProxy → two gateways → the producer,
/// each a real process, over the tests' database.
/// </summary>
public sealed class ServiceStack : IAsyncDisposable
{
    public ServiceProcess Producer { get; } = new("EventReplay.Producer", new Dictionary<string, string>
    {
        ["ConnectionStrings__postgres"] = TestEnvironment.PostgresConnectionString,
    });

    public IReadOnlyList<ServiceProcess> Gateways { get; private set; } = [];

    public LoadBalancer LoadBalancer { get; } = new();

    public HttpClient CreateClient() => new() { BaseAddress = LoadBalancer.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };

    public async Task StartAsync()
    {
        var backends = new Dictionary<string, string>
        {
            ["ReverseProxy__Clusters__producer__Destinations__p1__Address"] = Producer.BaseAddress.ToString(),
        };
        Gateways = [new ServiceProcess("EventReplay.Gateway", backends), new ServiceProcess("EventReplay.Gateway", backends)];
        await Task.WhenAll(Gateways.Select(gateway => gateway.StartAsync()).Append(Producer.StartAsync()));
        await LoadBalancer.StartAsync(Gateways.Select(gateway => gateway.Port));
    }

    public async ValueTask DisposeAsync()
    {
        await LoadBalancer.DisposeAsync();
        foreach (var gateway in Gateways)
        {
            await gateway.DisposeAsync();
        }

        await Producer.DisposeAsync();
    }
}
