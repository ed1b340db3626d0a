using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using EventReplay.Contracts;
using EventReplay.Contracts.Accounts;
using EventReplay.Hosting;
using Microsoft.Extensions.Configuration;
using Npgsql;
using RabbitMQ.Client;
using StackExchange.Redis;

namespace EventReplay.Benchmarks;

/// <summary>
/// A consumer's apply rate on a backlog: its read model and queue are emptied, N events (M accounts, interleaved as
/// live traffic writes them: opened, then deposits and every fifth a withdrawal) are queued while it is stopped,
/// then it is started and timed from its first applied batch to its checkpoint reaching the last position.
/// </summary>
public static class Backlog
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public sealed record Result(string Consumer, int Events, double Seconds, double EventsPerSecond,
        IReadOnlyDictionary<string, double> CpuSeconds, IReadOnlyDictionary<string, double> ResidentMiB);

    public static async Task<Result> RunAsync(string consumer, string serviceDll, int events, int accounts,
        string readModels, string rabbitmq, string redis)
    {
        await using var dataSource = NpgsqlDataSource.Create(readModels);
        await using (var drop = dataSource.CreateCommand($"drop schema if exists {consumer} cascade"))
        {
            await drop.ExecuteNonQueryAsync();
        }

        await using (var cache = await ConnectionMultiplexer.ConnectAsync(redis + ",allowAdmin=true"))
        {
            foreach (var server in cache.GetServers())
            {
                await server.FlushDatabaseAsync(cache.GetDatabase().Database);
            }
        }

        // The harness publishes the backlog as the broker user of the URL it was given, and the consumer takes live events
        // from that user as from the producer (Broker:Users:Producer).
        var factory = new ConnectionFactory { Uri = new Uri(rabbitmq) };
        var publisher = factory.UserName;
        await using (var connection = await factory.CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync(new CreateChannelOptions(true, true)))
        {
            await BrokerTopology.From(new ConfigurationBuilder().AddEnvironmentVariables().Build()).DeclareAsync(connection, CancellationToken.None);
            await channel.QueuePurgeAsync(Topology.LiveQueue(consumer));
            await EnqueueAsync(channel, Topology.LiveQueue(consumer), events, accounts, publisher);
        }

        ProcessCpu? cpu = null;
        var port = FreePort();
        using var process = Process.Start(new ProcessStartInfo("dotnet", [serviceDll])
        {
            WorkingDirectory = Path.GetDirectoryName(serviceDll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment =
            {
                ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}",
                ["ConnectionStrings__readmodels"] = readModels,
                ["ConnectionStrings__rabbitmq"] = rabbitmq,
                ["ConnectionStrings__redis"] = redis,
                ["Broker__Users__Producer"] = publisher,
                ["Logging__LogLevel__Default"] = "Warning",
            },
        }) ?? throw new InvalidOperationException($"Could not start {serviceDll}.");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var checkpoint = consumer == "statistics" ? "select position from statistics.totals" : $"select position from {consumer}.checkpoint";
            long first = 0;
            var firstAt = 0L;
            var peakMiB = new Dictionary<string, double>();
            var deadline = Stopwatch.StartNew();
            while (deadline.Elapsed < TimeSpan.FromMinutes(10))
            {
                var position = await PositionAsync(dataSource, checkpoint);
                if (position > 0 && firstAt == 0)
                {
                    (first, firstAt, cpu) = (position, Stopwatch.GetTimestamp(), ProcessCpu.Start());
                }

                foreach (var (role, mib) in ProcessCpu.ResidentMiB())
                {
                    peakMiB[role] = Math.Max(peakMiB.GetValueOrDefault(role), mib);
                }

                if (position >= events)
                {
                    var seconds = Stopwatch.GetElapsedTime(firstAt).TotalSeconds;
                    return new Result(consumer, events, seconds, (events - first) / seconds, cpu!.Elapsed(), peakMiB);
                }

                if (process.HasExited)
                {
                    throw new InvalidOperationException($"{serviceDll} exited with {process.ExitCode}.");
                }

                await Task.Delay(20); // sampling interval of the checkpoint
            }

            throw new TimeoutException($"{consumer} did not apply {events} events within 10 minutes.");
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    private static async Task EnqueueAsync(IChannel channel, string queue, int events, int accounts, string publisher)
    {
        var now = DateTimeOffset.UtcNow;
        var pending = new List<ValueTask>(100);
        for (var i = 0; i < events; i++)
        {
            var account = $"backlog-{i % accounts}";
            var version = i / accounts + 1;
            object data = version == 1 ? new AccountOpened(account, "Bench")
                : version % 5 == 0 ? new FundsWithdrawn(account, 1m)
                : new FundsDeposited(account, 10m);
            var type = data switch
            {
                AccountOpened => AccountEventTypes.AccountOpened,
                FundsWithdrawn => AccountEventTypes.FundsWithdrawn,
                _ => AccountEventTypes.FundsDeposited,
            };
            var recorded = new RecordedEvent(i + 1, account, version, type, now, JsonSerializer.SerializeToElement(data, data.GetType(), Json));
            var properties = new BasicProperties
            {
                Persistent = true,
                ContentType = "application/json",
                Type = Topology.RecordedEventType,
                MessageId = recorded.Position.ToString(CultureInfo.InvariantCulture),
                UserId = publisher,
            };
            pending.Add(channel.BasicPublishAsync("", queue, mandatory: false, properties, JsonSerializer.SerializeToUtf8Bytes(recorded, Json)));
            if (pending.Count == 100)
            {
                foreach (var confirm in pending)
                {
                    await confirm;
                }

                pending.Clear();
            }
        }

        foreach (var confirm in pending)
        {
            await confirm;
        }
    }

    private static async Task<long> PositionAsync(NpgsqlDataSource dataSource, string sql)
    {
        try
        {
            await using var command = dataSource.CreateCommand(sql);
            return (long)(await command.ExecuteScalarAsync() ?? 0L);
        }
        catch (PostgresException exception) when (exception.SqlState == PostgresErrorCodes.UndefinedTable || exception.SqlState == PostgresErrorCodes.InvalidSchemaName)
        {
            return 0;
        }
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
