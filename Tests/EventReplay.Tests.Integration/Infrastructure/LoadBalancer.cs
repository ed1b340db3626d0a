using System.Globalization;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>HAProxy in front of the given gateways, run through eng/lb.sh on a port and folder of its own.</summary>
public sealed class LoadBalancer : IAsyncDisposable
{
    private readonly string _directory = Path.Combine(TestEnvironment.RepoRoot, ".local", "test-lb", Guid.NewGuid().ToString("N")[..8]);

    public int Port { get; } = TestEnvironment.FreePort();

    public Uri BaseAddress => new($"http://127.0.0.1:{Port}");

    public Task StartAsync(IEnumerable<int> gatewayPorts) =>
        RunAsync(["start", _directory, Port.ToString(CultureInfo.InvariantCulture), .. gatewayPorts.Select(port => $"127.0.0.1:{port}")]);

    public async ValueTask DisposeAsync()
    {
        // Also when it never started (a stack whose services failed to start is disposed too).
        if (Directory.Exists(_directory))
        {
            await RunAsync(["stop", _directory]);
            Directory.Delete(_directory, recursive: true);
        }
    }

    private static Task RunAsync(string[] arguments) => Scripts.RunAsync("lb.sh", arguments);
}
