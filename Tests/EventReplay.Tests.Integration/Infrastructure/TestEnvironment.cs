using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>Where the repository, the built services and the test databases are.</summary>
public static class TestEnvironment
{
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>
    /// A password of the local system (<c>.local/secrets/NAME</c>, made by eng/services.sh, eng/secrets.sh): no
    /// password is written in the tests.
    /// </summary>
    public static string LocalSecret(string name) => File.ReadAllText(Path.Combine(RepoRoot, ".local", "secrets", name)).Trim();

    /// <summary>
    /// The local PostgreSQL roles' password file (eng/secrets.sh): connection strings name a role only, and Npgsql, psql
    /// and the service processes (which inherit it) find the password here, unless PGPASSFILE names another.
    /// </summary>
    [ModuleInitializer]
    internal static void UseLocalPasswordFile()
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("PGPASSFILE")))
        {
            Environment.SetEnvironmentVariable("PGPASSFILE", Path.Combine(RepoRoot, ".local", "secrets", "pgpass"));
        }
    }

    public static string Configuration { get; } =
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
            ? "Release"
            : "Debug";

    /// <summary>
    /// The tests' own event store: the <c>eventreplay_tests</c> database of the event store's cluster (never the one
    /// <c>eng/run.sh</c> uses); override with EVENTREPLAY_TEST_EVENTSTORE.
    /// </summary>
    public static string EventStoreConnectionString { get; } =
        Environment.GetEnvironmentVariable("EVENTREPLAY_TEST_EVENTSTORE")
        ?? "Host=127.0.0.1;Port=5433;Database=eventreplay_tests;Username=eventreplay;Timeout=3;Command Timeout=4";

    /// <summary>
    /// The tests' own read models (and replay sagas): the <c>eventreplay_tests</c> database of the read models' cluster;
    /// override with EVENTREPLAY_TEST_READMODELS.
    /// </summary>
    public static string ReadModelsConnectionString { get; } =
        Environment.GetEnvironmentVariable("EVENTREPLAY_TEST_READMODELS")
        ?? "Host=127.0.0.1;Port=5432;Database=eventreplay_tests;Username=eventreplay;Timeout=3;Command Timeout=4";

    /// <summary>Both of the tests' databases.</summary>
    public static SystemDatabases Databases { get; } = new(EventStoreConnectionString, ReadModelsConnectionString);

    /// <summary>The tests' own RabbitMQ vhost, as the administrator; override with EVENTREPLAY_TEST_RABBITMQ.</summary>
    public static string RabbitMqConnectionString { get; } =
        Environment.GetEnvironmentVariable("EVENTREPLAY_TEST_RABBITMQ")
        ?? $"amqp://eventreplay:{LocalSecret("rabbitmq/eventreplay")}@127.0.0.1:5672/eventreplay_tests";

    /// <summary>The tests' own Redis database (1; eng/run.sh uses 0), as the administrator; override with EVENTREPLAY_TEST_REDIS.</summary>
    public static string RedisConnectionString { get; } =
        Environment.GetEnvironmentVariable("EVENTREPLAY_TEST_REDIS")
        ?? $"127.0.0.1:6379,user=eventreplay,password={LocalSecret("redis/eventreplay")},defaultDatabase=1";

    /// <summary>The RabbitMQ queue type the tests' services use: the system's default unless EVENTREPLAY_TEST_QUEUE_TYPE says.</summary>
    public static Hosting.QueueType QueueType { get; } = Hosting.BrokerTopology.Parse(Environment.GetEnvironmentVariable("EVENTREPLAY_TEST_QUEUE_TYPE")).Type;

    /// <summary>
    /// The connection strings, queue type and token key a service process of the tests gets (every one checks the
    /// tokens of the local signing key), each overridable.
    /// </summary>
    public static Dictionary<string, string> ServiceConnections(string? eventStore = null, string? readModels = null, string? redis = null,
        string? rabbitmq = null) => new()
    {
        ["ConnectionStrings__eventstore"] = eventStore ?? EventStoreConnectionString,
        ["ConnectionStrings__readmodels"] = readModels ?? ReadModelsConnectionString,
        ["ConnectionStrings__rabbitmq"] = rabbitmq ?? RabbitMqConnectionString,
        ["ConnectionStrings__redis"] = redis ?? RedisConnectionString,
        ["RabbitMq__QueueType"] = QueueType.ToString().ToLowerInvariant(),
        ["Auth__SigningKeyFile"] = TestTokens.PublicKeyFile,
    };

    public static string LogDirectory { get; } = Directory.CreateDirectory(Path.Combine(RepoRoot, ".local", "logs", "tests")).FullName;

    public static string ServiceAssembly(string project)
    {
        var folder = new[] { "Endpoints", "Gateway", "Tools" }.Select(top => Path.Combine(RepoRoot, top, project)).First(Directory.Exists);
        return Path.Combine(folder, "bin", Configuration, "net10.0", project + ".dll");
    }

    // Ports handed out in this run: the kernel may give a released ephemeral port again at once, and two processes of
    // one stack on the same port (a gateway on its producer's) fail in ways that look like anything but that.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, byte> HandedOut = new();

    /// <summary>A loopback port nothing listens on now and that no other call in this run has returned.</summary>
    public static int FreePort()
    {
        while (true)
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            if (HandedOut.TryAdd(port, 0))
            {
                return port;
            }
        }
    }

    public static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static string FindRepoRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "EventReplay.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("EventReplay.sln not found above " + AppContext.BaseDirectory);
    }
}
