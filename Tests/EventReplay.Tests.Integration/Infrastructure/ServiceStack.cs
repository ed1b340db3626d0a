namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>
/// The system as eng/run.sh runs it, on ports of its own: HAProxy → two gateways → the producer, both consumers,
/// the replay service and the monitor, each a real process, over the tests' event store and read-model databases, RabbitMQ vhost and
/// Redis database.
/// <paramref name="services"/> gives one service (by project name) settings of its own, such as another broker address.
/// </summary>
public sealed class ServiceStack(string? eventStore = null, string? readModels = null, string? redis = null, string? rabbitmq = null,
    IReadOnlyDictionary<string, string>? environment = null,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>>? services = null) : IAsyncDisposable
{
    private readonly IReadOnlyDictionary<string, string> _environment = environment ?? new Dictionary<string, string>();

    private readonly Dictionary<string, string> _connections = new(
        TestEnvironment.ServiceConnections(eventStore, readModels, redis, rabbitmq).Concat(environment ?? new Dictionary<string, string>()));

    private ServiceProcess? _producer;
    private ServiceProcess? _balances;
    private ServiceProcess? _statistics;
    private ServiceProcess? _replay;
    private ServiceProcess? _monitor;

    public ServiceProcess Producer => _producer ??= new("EventReplay.Producer", For("EventReplay.Producer"));

    public ServiceProcess Balances => _balances ??= new("EventReplay.Consumers.Balances", For("EventReplay.Consumers.Balances"));

    public ServiceProcess Statistics => _statistics ??= new("EventReplay.Consumers.Statistics", For("EventReplay.Consumers.Statistics"));

    public ServiceProcess Replay => _replay ??= new("EventReplay.Replay", For("EventReplay.Replay"));

    // The console calls the replay service's API.
    public ServiceProcess Monitor => _monitor ??= new("EventReplay.Monitor",
        new Dictionary<string, string>(For("EventReplay.Monitor")) { ["Monitoring__ReplayApi"] = Replay.BaseAddress.ToString() });

    public IReadOnlyList<ServiceProcess> Gateways { get; private set; } = [];

    public LoadBalancer LoadBalancer { get; } = new();

    private ProducerApi? _api;

    /// <summary>A client of the public API with a token of every role (<see cref="TestTokens.Everyone"/>).</summary>
    public HttpClient CreateClient() => TestTokens.Authorized(new HttpClient { BaseAddress = LoadBalancer.BaseAddress, Timeout = TimeSpan.FromSeconds(30) });

    /// <summary>A client of the public API, through the load balancer; disposed with the stack.</summary>
    public ProducerApi Api => _api ??= new ProducerApi(CreateClient());

    public static async Task<ServiceStack> StartedAsync(string? eventStore = null, string? readModels = null, string? redis = null,
        string? rabbitmq = null,
        IReadOnlyDictionary<string, string>? environment = null,
        IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>>? services = null)
    {
        var stack = new ServiceStack(eventStore, readModels, redis, rabbitmq, environment, services);
        try
        {
            await stack.StartAsync();
        }
        catch
        {
            // A fixture whose set-up failed never gets the stack to stop: the processes that did start must not outlive it.
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
            ["ReverseProxy__Clusters__monitor__Destinations__m1__Address"] = Monitor.BaseAddress.ToString(),
            ["ConnectionStrings__rabbitmq"] = _connections["ConnectionStrings__rabbitmq"],
        };
        // The tests drive one client (one token) far harder than any real one: its limits are out of reach unless a
        // test sets its own (RateLimitTests).
        foreach (var kind in new[] { "Commands", "Reads", "Replays" })
        {
            backends[$"RateLimits__{kind}__PerSecond"] = "1000000";
            backends[$"RateLimits__{kind}__Burst"] = "1000000";
        }

        foreach (var (name, value) in _environment)
        {
            backends[name] = value;
        }

        Gateways = [new ServiceProcess("EventReplay.Gateway", backends), new ServiceProcess("EventReplay.Gateway", backends)];
        await Task.WhenAll(Gateways.Select(gateway => gateway.StartAsync()).Append(Producer.StartAsync()).Append(Balances.StartAsync()).Append(Statistics.StartAsync()).Append(Replay.StartAsync())
            .Append(Monitor.StartAsync()));
        await LoadBalancer.StartAsync(Gateways.Select(gateway => gateway.Port));
    }

    private Dictionary<string, string> For(string project)
    {
        var settings = new Dictionary<string, string>(_connections);
        foreach (var (name, value) in services?.GetValueOrDefault(project) ?? new Dictionary<string, string>())
        {
            settings[name] = value;
        }

        return settings;
    }

    public async ValueTask DisposeAsync()
    {
        _api?.Http.Dispose();
        await LoadBalancer.DisposeAsync();
        Kill();
    }

    private void Kill()
    {
        foreach (var process in Gateways.Append(Producer).Append(Balances).Append(Statistics).Append(Replay).Append(Monitor))
        {
            process.Kill();
        }
    }
}
