using System.Globalization;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>A RabbitMQ node of the test's own (eng/rabbitmq-instance.sh), so a test can restart the broker.</summary>
public sealed class RabbitMqInstance : IAsyncDisposable
{
    private readonly string _directory = Path.Combine(TestEnvironment.RepoRoot, ".local", "test-rabbitmq", Guid.NewGuid().ToString("N")[..8]);

    public int Port { get; } = FreePortBelow45000();

    public string ConnectionString => $"amqp://eventreplay:eventreplay@127.0.0.1:{Port}/";

    public Task StartAsync() => Scripts.RunAsync("rabbitmq-instance.sh", "start", _directory, Port.ToString(CultureInfo.InvariantCulture));

    public Task StopAsync() => Scripts.RunAsync("rabbitmq-instance.sh", "stop", _directory, Port.ToString(CultureInfo.InvariantCulture));

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        Directory.Delete(_directory, recursive: true);
    }

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
