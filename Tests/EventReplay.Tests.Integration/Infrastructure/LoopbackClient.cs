using System.Net;
using System.Net.Sockets;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>
/// A client that connects from an address of its own on the loopback network (127.0.0.2, 127.0.0.3…), so that
/// servers behind the load balancer can tell clients on this one machine apart, as they would clients of a network.
/// <paramref name="connected"/>, when given, is called for each connection the client opens.
/// </summary>
public static class LoopbackClient
{
    public static HttpClient From(string localAddress, Uri baseAddress, Action? connected = null)
    {
        var local = IPAddress.Parse(localAddress);
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(local, 0));
                    await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                    connected?.Invoke();
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        return new HttpClient(handler) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }
}
