using System.Net.Sockets;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Running;

/// <summary>
/// The test stacks' processes are supervised like eng/run.sh's: a gateway (the quickest of our services to start, and it
/// needs no database) killed from outside comes back by itself, one ended with Kill() stays down.
/// </summary>
public class ServiceProcessSupervisionTests
{
    private ServiceProcess _gateway = null!;

    [SetUp]
    public async Task StartGateway()
    {
        _gateway = new ServiceProcess("EventReplay.Gateway", new Dictionary<string, string>());
        await _gateway.StartAsync();
    }

    [TearDown]
    public async Task StopGateway() => await _gateway.DisposeAsync();

    [Test]
    public async Task A_service_killed_from_outside_with_SIGKILL_comes_back_ready_on_the_same_port_by_itself()
    {
        var killed = _gateway.ProcessId!.Value;
        var logBefore = _gateway.ReadLog().Length;

        await Signals.SendAsync(killed, "KILL");

        using var client = _gateway.CreateClient();
        await Eventually.Until(async () => _gateway.ProcessId is { } pid && pid != killed && await IsReadyAsync(client),
            ready => ready, TimeSpan.FromSeconds(60), $"the gateway to be ready again on {_gateway.BaseAddress}");
        Assert.Multiple(() =>
        {
            Assert.That(_gateway.Restarts, Is.EqualTo(1));
            Assert.That(_gateway.ReadLog()[logBefore..], Does.Match(@"---- exited \(signal KILL\) after \d+ s; restart 1 in 1 s"));
        });
    }

    [Test]
    public async Task A_service_ended_with_Kill_stays_down()
    {
        _gateway.Kill();

        // The first restart would come after 1 s: watch for three.
        await Eventually.Holds(() => Task.FromResult((_gateway.ProcessId, Listening: IsListening(_gateway.Port))),
            state => state is { ProcessId: null, Listening: false }, TimeSpan.FromSeconds(3), "the gateway to stay down");
        Assert.That(_gateway.Restarts, Is.Zero);
    }

    [Test]
    public async Task A_service_started_again_after_Kill_is_supervised_again()
    {
        _gateway.Kill();
        await _gateway.StartAsync();
        var killed = _gateway.ProcessId!.Value;

        await Signals.SendAsync(killed, "KILL");

        using var client = _gateway.CreateClient();
        await Eventually.Until(async () => _gateway.ProcessId is { } pid && pid != killed && await IsReadyAsync(client),
            ready => ready, TimeSpan.FromSeconds(60), $"the gateway to be ready again on {_gateway.BaseAddress}");
    }

    private static async Task<bool> IsReadyAsync(HttpClient client)
    {
        try
        {
            using var response = await client.GetAsync(new Uri("/health/ready", UriKind.Relative));
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (TaskCanceledException)
        {
            return false;
        }
    }

    private static bool IsListening(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect("127.0.0.1", port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
