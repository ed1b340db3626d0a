using System.Diagnostics;
using System.Globalization;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>A Redis server of the test's own (a child process, data kept across restarts), so a test can stop it.</summary>
public sealed class RedisInstance : IAsyncDisposable
{
    private readonly string _directory = Directory.CreateDirectory(
        Path.Combine(TestEnvironment.RepoRoot, ".local", "test-redis", Guid.NewGuid().ToString("N")[..8])).FullName;

    private Process? _process;

    public int Port { get; } = TestEnvironment.FreePort();

    /// <summary>As the administrator; a service of the tests connects as its own user (<see cref="BrokerAccounts.ForService"/>).</summary>
    public string ConnectionString => $"127.0.0.1:{Port},user=eventreplay,password={TestEnvironment.LocalSecret("redis/eventreplay")}";

    public async Task StartAsync()
    {
        _process = Process.Start(new ProcessStartInfo("redis-server",
            ["--port", Port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--dir", _directory,
             "--appendonly", "yes", "--save", "",
             // The shared Redis's users (eng/services.sh writes the file): the same accounts on every Redis of the tests.
             "--aclfile", Path.Combine(TestEnvironment.RepoRoot, ".local", "redis", "users.acl")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        _process.OutputDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        await Eventually.Until(async () =>
        {
            try
            {
                using var client = new System.Net.Sockets.TcpClient();
                await client.ConnectAsync("127.0.0.1", Port);
                return true;
            }
            catch (System.Net.Sockets.SocketException)
            {
                return false;
            }
        }, up => up, TimeSpan.FromSeconds(10), $"redis on port {Port}");
    }

    /// <summary>Kills the server and deletes its data: the next start is an empty Redis, like a cache node replaced.</summary>
    public void KillAndForget()
    {
        Kill();
        foreach (var entry in new DirectoryInfo(_directory).EnumerateFileSystemInfos())
        {
            if (entry is DirectoryInfo directory)
            {
                directory.Delete(recursive: true);
            }
            else
            {
                entry.Delete();
            }
        }
    }

    public void Kill()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            _process.WaitForExit();
        }

        _process?.Dispose();
        _process = null;
    }

    public ValueTask DisposeAsync()
    {
        Kill();
        Directory.Delete(_directory, recursive: true);
        return ValueTask.CompletedTask;
    }
}
