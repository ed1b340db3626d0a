using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>
/// A loopback TCP proxy between one service and a server (the broker), so a test can cut that service off alone:
/// <see cref="Close"/> drops every connection (a reset, as a failed link or a firewall rule does) and refuses new
/// ones until <see cref="Open"/>.
/// </summary>
public sealed class TcpProxy(int targetPort) : IAsyncDisposable
{
    private readonly ConcurrentDictionary<Socket, Socket> _links = new();
    private readonly Lock _gate = new();
    private TcpListener? _listener;
    private Task _accepting = Task.CompletedTask;
    private int _accepted;

    public int Port { get; } = TestEnvironment.FreePort();

    /// <summary>Connections accepted since the start.</summary>
    public int Accepted => _accepted;

    /// <summary>Starts accepting connections (again) on <see cref="Port"/>.</summary>
    public void Open()
    {
        lock (_gate)
        {
            if (_listener is not null)
            {
                return;
            }

            _listener = new TcpListener(IPAddress.Loopback, Port);
            _listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            _listener.Start();
            _accepting = AcceptAsync(_listener);
        }
    }

    /// <summary>Stops listening (a connect is refused) and resets every open connection; returns how many were dropped.</summary>
    public int Close()
    {
        TcpListener? listener;
        lock (_gate)
        {
            listener = _listener;
            _listener = null;
        }

        listener?.Stop();
        var dropped = 0;
        foreach (var (client, server) in _links)
        {
            if (_links.TryRemove(client, out _))
            {
                Reset(client);
                Reset(server);
                dropped++;
            }
        }

        return dropped;
    }

    public async ValueTask DisposeAsync()
    {
        Close();
        await _accepting;
    }

    private async Task AcceptAsync(TcpListener listener)
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await listener.AcceptSocketAsync();
            }
            catch (Exception exception) when (exception is SocketException or ObjectDisposedException or InvalidOperationException)
            {
                return; // closed
            }

            _ = LinkAsync(client);
        }
    }

    private async Task LinkAsync(Socket client)
    {
        var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.NoDelay = true;
        try
        {
            await server.ConnectAsync(IPAddress.Loopback, targetPort);
        }
        catch (SocketException)
        {
            Reset(client);
            server.Dispose();
            return;
        }

        _links[client] = server;
        Interlocked.Increment(ref _accepted);
        if (Volatile.Read(ref _listener) is null && _links.TryRemove(client, out _))
        {
            // Closed while this link was being made.
            Reset(client);
            Reset(server);
            return;
        }

        // Either direction ending ends the link: both sockets are reset, as when the path between them fails.
        await Task.WhenAny(PumpAsync(client, server), PumpAsync(server, client));
        if (_links.TryRemove(client, out _))
        {
            Reset(client);
            Reset(server);
        }
    }

    private static async Task PumpAsync(Socket from, Socket to)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None);
                if (read == 0)
                {
                    return;
                }

                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None);
            }
        }
        catch (Exception exception) when (exception is SocketException or ObjectDisposedException)
        {
            // The link was reset (by Close or by either end).
        }
    }

    private static void Reset(Socket socket)
    {
        try
        {
            // Linger 0: close with a reset instead of a graceful FIN, so the peer learns at once that the link is gone.
            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
