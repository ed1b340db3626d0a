using System.Globalization;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>A RabbitMQ node of the test's own (eng/rabbitmq-instance.sh), so a test can restart, kill or starve the broker.</summary>
public sealed class RabbitMqInstance : IAsyncDisposable
{
    private readonly string _directory = Path.Combine(TestEnvironment.RepoRoot, ".local", "test-rabbitmq", Guid.NewGuid().ToString("N")[..8]);

    public int Port { get; } = FreePortBelow45000();

    /// <summary>The node's administrator (the shared broker's, with its password: eng/rabbitmq-instance.sh).</summary>
    public string ConnectionString => $"amqp://eventreplay:{BrokerAccounts.Password("eventreplay")}@127.0.0.1:{Port}/";

    /// <summary>
    /// Starts the node and declares the system's topology as the administrator, as the tests' shared vhost has it
    /// before a stack starts (each service declares only what it consumes).
    /// </summary>
    public async Task StartAsync()
    {
        await RunAsync("start");
        await using var connection = await new RabbitMQ.Client.ConnectionFactory { Uri = new Uri(ConnectionString) }.CreateConnectionAsync();
        await Broker.SystemTopology.DeclareAsync(connection, CancellationToken.None);
    }

    public Task StopAsync() => RunAsync("stop");

    /// <summary>SIGKILL of the node's Erlang VM (beam.smp): a crash, no shutdown; returns once the process is dead.</summary>
    public Task KillAsync() => RunAsync("kill");

    /// <summary>
    /// Sets the memory high watermark at run time (<c>rabbitmqctl set_vm_memory_high_watermark</c>): a fraction of
    /// the memory ("0.4"), or "absolute" and an amount ("absolute", "10MB"). Above it, the node raises a memory alarm
    /// and blocks every publishing connection until it clears.
    /// </summary>
    public Task SetMemoryHighWatermarkAsync(params string[] watermark) => RunAsync("ctl", ["set_vm_memory_high_watermark", .. watermark]);

    /// <summary>Sets the free disk limit at run time (<c>rabbitmqctl set_disk_free_limit</c>, e.g. "50MB"); below it, a disk alarm blocks publishers.</summary>
    public Task SetDiskFreeLimitAsync(string limit) => RunAsync("ctl", "set_disk_free_limit", limit);

    /// <summary>The node's resource alarms, one a line (empty when there are none).</summary>
    public async Task<IReadOnlyList<string>> AlarmsAsync()
    {
        var output = await Scripts.OutputAsync("rabbitmq-instance.sh", "alarms", _directory, Port.ToString(CultureInfo.InvariantCulture));
        return [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(line => line.Contains(" alarm on node ", StringComparison.Ordinal))];
    }

    public async ValueTask DisposeAsync()
    {
        if (Directory.Exists(_directory))
        {
            await StopAsync();
            await KillAsync(); // a node that would not stop
            Directory.Delete(_directory, recursive: true);
        }
    }

    private Task RunAsync(string action, params string[] arguments) =>
        Scripts.RunAsync("rabbitmq-instance.sh", [action, _directory, Port.ToString(CultureInfo.InvariantCulture), .. arguments]);

    // The node's distribution port is the AMQP port + 20000, which must stay a valid, free port.
    private static int FreePortBelow45000()
    {
        while (true)
        {
            var port = TestEnvironment.FreePort();
            if (port < 45000 && TestEnvironment.IsFree(port + 20000))
            {
                return port;
            }
        }
    }
}
