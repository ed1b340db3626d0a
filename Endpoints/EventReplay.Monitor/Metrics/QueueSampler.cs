using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using EventReplay.Contracts;
using EventReplay.EventLog;
using EventReplay.Hosting;
using Npgsql;

namespace EventReplay.Monitor.Metrics;

/// <summary>
/// Every 5 s: the system's queues from RabbitMQ's management API (length, ready, unacknowledged, consumers, messages in
/// and out per second) and each consumer's lag (the event store's head − the checkpoint of its last heartbeat), into the
/// <see cref="MetricsStore"/>; once an hour, samples older than a day are deleted. A dependency that is down only costs
/// its samples (the other ones are still taken).
/// </summary>
public sealed partial class QueueSampler(MetricsStore store, NpgsqlDataSource readModels, EventStoreSource eventStore, IHttpClientFactory http,
    IConfiguration configuration, TimeProvider clock, ILogger<QueueSampler> logger) : BackgroundService
{
    public const string HttpClientName = "rabbitmq-management";

    public static readonly TimeSpan Every = TimeSpan.FromSeconds(5);

    private DateTimeOffset _purged = DateTimeOffset.MinValue;

    private readonly HashSet<string> _failing = [];

    /// <summary>The management API's client for the broker of <c>ConnectionStrings:rabbitmq</c> (its user, its vhost), at <c>Monitoring:RabbitMqManagement</c> or port 15672 of the broker's host.</summary>
    public static void Configure(HttpClient client, IConfiguration configuration)
    {
        var amqp = new Uri(configuration.GetConnectionString("rabbitmq") ?? "amqp://localhost:5672/");
        client.BaseAddress = new Uri(configuration["Monitoring:RabbitMqManagement"] ?? $"http://{amqp.Host}:15672/");
        client.Timeout = TimeSpan.FromSeconds(3);
        if (amqp.UserInfo.Length > 0)
        {
            var user = Uri.UnescapeDataString(amqp.UserInfo);
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(user)));
        }
    }

    private string VirtualHost
    {
        get
        {
            var path = new Uri(configuration.GetConnectionString("rabbitmq") ?? "amqp://localhost/").AbsolutePath.Trim('/');
            return Uri.EscapeDataString(path.Length == 0 ? "/" : Uri.UnescapeDataString(path));
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Every, clock);
        do
        {
            var at = clock.GetUtcNow();
            var queues = await Sampled("rabbitmq", () => QueuesAsync(stoppingToken), stoppingToken) ?? [];
            var lags = await Sampled("lag", () => LagsAsync(stoppingToken), stoppingToken) ?? [];
            await Sampled("store", async () =>
            {
                await store.RecordAsync(at, queues, lags, stoppingToken);
                if (at - _purged >= TimeSpan.FromHours(1))
                {
                    _purged = at;
                    await store.PurgeAsync(at - MetricsStore.Keep, stoppingToken);
                }

                return true;
            }, stoppingToken);
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    private async Task<T?> Sampled<T>(string what, Func<Task<T>> sample, CancellationToken stoppingToken)
    {
        try
        {
            var value = await sample();
            if (_failing.Remove(what))
            {
                LogBack(what);
            }

            return value;
        }
        catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
        {
            if (_failing.Add(what))
            {
                LogFailed(exception, what);
            }

            return default;
        }
    }

    private async Task<IReadOnlyList<QueueSample>> QueuesAsync(CancellationToken cancellationToken)
    {
        var client = http.CreateClient(HttpClientName);
        using var response = await client.GetAsync(new Uri(
            $"api/queues/{VirtualHost}?columns=name,messages,messages_ready,messages_unacknowledged,consumers,message_stats", UriKind.Relative),
            cancellationToken);
        response.EnsureSuccessStatusCode();
        using var document = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancellationToken), cancellationToken: cancellationToken);
        var samples = new List<QueueSample>();
        foreach (var queue in document.RootElement.EnumerateArray())
        {
            var name = queue.GetProperty("name").GetString()!;
            if (name.StartsWith("amq.", StringComparison.Ordinal))
            {
                continue;
            }

            samples.Add(new QueueSample(name, Long(queue, "messages"), Long(queue, "messages_ready"), Long(queue, "messages_unacknowledged"),
                (int)Long(queue, "consumers"), Rate(queue, "publish_details"), Rate(queue, "ack_details") + Rate(queue, "deliver_no_ack_details")));
        }

        return samples;
    }

    private static long Long(JsonElement queue, string name) =>
        queue.TryGetProperty(name, out var value) && value.TryGetInt64(out var number) ? number : 0;

    private static double Rate(JsonElement queue, string details) =>
        queue.TryGetProperty("message_stats", out var stats) && stats.TryGetProperty(details, out var rate)
            && rate.TryGetProperty("rate", out var value) && value.TryGetDouble(out var number)
            ? Math.Round(number, 1)
            : 0;

    /// <summary>Each consumer's lag: the event store's head − the checkpoint its last heartbeat (within a minute) gave.</summary>
    private async Task<IReadOnlyList<LagSample>> LagsAsync(CancellationToken cancellationToken)
    {
        var head = await StoreEpoch.HeadAsync(eventStore.DataSource, cancellationToken);
        await using var command = readModels.CreateCommand("""
            select distinct on (endpoint) endpoint, (metrics->>'checkpoint')::double precision from monitor.endpoint_samples
            where at > @since and metrics ? 'checkpoint' and endpoint = any(@consumers) order by endpoint, at desc
            """);
        command.Parameters.AddWithValue("since", clock.GetUtcNow() - TimeSpan.FromMinutes(1));
        command.Parameters.Add(new NpgsqlParameter<string[]>("consumers", [.. Topology.Consumers]));
        var lags = new List<LagSample>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            lags.Add(new LagSample(reader.GetString(0), head, (long)reader.GetDouble(1)));
        }

        return lags;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sampling {What} failed; its samples are missing until it works again")]
    private partial void LogFailed(Exception exception, string what);

    [LoggerMessage(Level = LogLevel.Information, Message = "Sampling {What} works again")]
    private partial void LogBack(string what);
}
