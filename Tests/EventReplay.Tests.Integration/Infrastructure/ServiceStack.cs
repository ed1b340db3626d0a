namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>
/// The system as eng/run.sh runs it, on ports of its own: HAProxy → two gateways → the producer, both consumers
/// and the replay service, each a real process, over the tests' database, RabbitMQ vhost and Redis database.
/// </summary>
public sealed class ServiceStack(string? postgres = null, string? redis = null, string? rabbitmq = null,
    IReadOnlyDictionary<string, string>? environment = null) : IAsyncDisposable
{
    private readonly IReadOnlyDictionary<string, string> _environment = environment ?? new Dictionary<string, string>();

    private readonly Dictionary<string, string> _connections = new(
        TestEnvironment.ServiceConnections(postgres, redis, rabbitmq).Concat(environment ?? new Dictionary<string, string>()));

    private ServiceProcess? _producer;
    private ServiceProcess? _balances;
    private ServiceProcess? _statistics;
    private ServiceProcess? _replay;

    public ServiceProcess Producer => _producer ??= new("EventReplay.Producer", _connections);

    public ServiceProcess Balances => _balances ??= new("EventReplay.Consumers.Balances", _connections);

    public ServiceProcess Statistics => _statistics ??= new("EventReplay.Consumers.Statistics", _connections);

    public ServiceProcess Replay => _replay ??= new("EventReplay.Replay", _connections);

    public IReadOnlyList<ServiceProcess> Gateways { get; private set; } = [];

    public LoadBalancer LoadBalancer { get; } = new();

    private ProducerApi? _api;

    public HttpClient CreateClient() => new() { BaseAddress = LoadBalancer.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>A client of the public API, through the load balancer; disposed with the stack.</summary>
    public ProducerApi Api => _api ??= new ProducerApi(CreateClient());

    public static async Task<ServiceStack> StartedAsync(string? postgres = null, string? redis = null, string? rabbitmq = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var stack = new ServiceStack(postgres, redis, rabbitmq, environment);
        try
        {
            await stack.StartAsync();
        }
        catch
        {
            // The caller never gets the stack to dispose: the processes that did start must not outlive the test.
            await stack.DisposeAsync();
            throw;
        }

        return stack;
    }

    public async Task StartAsync()
    {
        var backends = new Dictionary<string, string>
        {
            ["ReverseProxy__Clusters__producer__Destinations__p1__Address"] = Producer.BaseAddress.ToString(),
            ["ReverseProxy__Clusters__balances__Destinations__b1__Address"] = Balances.BaseAddress.ToString(),
            ["ReverseProxy__Clusters__statistics__Destinations__s1__Address"] = Statistics.BaseAddress.ToString(),
            ["ReverseProxy__Clusters__replay__Destinations__r1__Address"] = Replay.BaseAddress.ToString(),
        };
        foreach (var (name, value) in _environment)
        {
            backends[name] = value;
        }

        Gateways = [new ServiceProcess("EventReplay.Gateway", backends), new ServiceProcess("EventReplay.Gateway", backends)];
        await Task.WhenAll(Gateways.Select(gateway => gateway.StartAsync()).Append(Producer.StartAsync()).Append(Balances.StartAsync()).Append(Statistics.StartAsync()).Append(Replay.StartAsync()));
        await LoadBalancer.StartAsync(Gateways.Select(gateway => gateway.Port));
    }

    public async ValueTask DisposeAsync()
    {
        _api?.Http.Dispose();
        await LoadBalancer.DisposeAsync();
        foreach (var gateway in Gateways)
        {
            await gateway.DisposeAsync();
        }

        await Producer.DisposeAsync();
        await Balances.DisposeAsync();
        await Statistics.DisposeAsync();
        await Replay.DisposeAsync();
    }
}
