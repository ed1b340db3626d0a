using EventReplay.Contracts;
using EventReplay.Tests.Integration.Infrastructure;
using Npgsql;

namespace EventReplay.Tests.Integration.Pipeline;

/// <summary>
/// One producer instance publishes at a time: the one whose session holds the publisher's advisory lock. A test's own
/// connection stands in for a second instance.
/// </summary>
public class PublisherLeadershipTests
{
    // The publisher's session-level lock (EventPublisher.LeaderKey); pg_locks shows a bigint key as its two halves.
    private const long LeaderKey = 0x4556_5250_5542_4C49;
    private const long LeaderKeyHigh = LeaderKey >> 32;
    private const long LeaderKeyLow = LeaderKey & 0xFFFF_FFFF;

    private static readonly TimeSpan Settle = LivePipelineTests.Settle;

    private static string EventStore => TestEnvironment.EventStoreConnectionString;

    private readonly HashSet<string> _published = [];

    [Test]
    public async Task A_producer_that_loses_its_lock_connection_stops_publishing_and_publishes_again_once_it_leads()
    {
        await PipelineState.ResetWithEmptyLogAsync(TestEnvironment.Databases, TestEnvironment.RedisConnectionString);
        await using var producer = new ServiceProcess("EventReplay.Producer", TestEnvironment.ServiceConnections());
        await producer.StartAsync();
        using var http = producer.CreateClient();
        var api = new ProducerApi(http);
        var before = ProducerApi.NewAccountId();
        await api.OpenedAsync(before);
        await Eventually.Until(() => PublishedAsync(before), published => published, Settle, $"{before} to be published");
        var leader = await Eventually.Until(() => LockHolderAsync(), pid => pid is not null, Settle, "the producer to hold the lock");

        // The other instance queues for the lock first, so it is granted the moment the producer's session ends.
        await using var other = new NpgsqlConnection(EventStore);
        await other.OpenAsync();
        var takingOver = ExecuteAsync(other, $"select pg_advisory_lock({LeaderKey})");
        await Eventually.Until(() => WaitingForLockAsync(), waiting => waiting.Contains(other.ProcessID), Settle,
            "the other instance to queue for the lock");
        Assert.That(await Database.ScalarAsync(EventStore, $"select pg_terminate_backend({leader})::int"), Is.EqualTo(1),
            "the producer's lock session is ended");
        await takingOver;

        var during = ProducerApi.NewAccountId();
        await api.OpenedAsync(during);
        var noticed = await Eventually.Until(async () => (Waiting: await WaitingForLockAsync(), Published: await PublishedAsync(during)),
            state => state.Waiting.Count > 0 || state.Published, Settle, "the producer to queue for the lock or to publish");

        Assert.Multiple(() =>
        {
            Assert.That(noticed.Published, Is.False, $"{during} was published while another instance held the lock");
            Assert.That(noticed.Waiting, Is.Not.Empty, "the producer queues for the lock again");
        });
        await ExecuteAsync(other, $"select pg_advisory_unlock({LeaderKey})");
        await Eventually.Until(() => PublishedAsync(during), published => published, Settle,
            $"{during} to be published once the producer leads again");
    }

    /// <summary>Whether an event of the stream has reached the balances consumer's live queue (no consumer runs here).</summary>
    private async Task<bool> PublishedAsync(string streamId)
    {
        foreach (var (body, _) in await Broker.DrainAsync(Topology.LiveQueue("balances")))
        {
            _published.Add(body);
        }

        return _published.Any(body => body.Contains($"\"{streamId}\"", StringComparison.Ordinal));
    }

    private static async Task<int?> LockHolderAsync()
    {
        var holders = await LockedByAsync(granted: true);
        return holders.Count == 0 ? null : holders[0];
    }

    private static Task<List<int>> WaitingForLockAsync() => LockedByAsync(granted: false);

    /// <summary>The sessions holding (or queued for) the publisher's lock in the tests' database.</summary>
    private static async Task<List<int>> LockedByAsync(bool granted)
    {
        await using var connection = new NpgsqlConnection(EventStore);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            """
            select pid from pg_locks
            where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())
              and classid::bigint = @high and objid::bigint = @low and objsubid = 1 and granted = @granted
            """, connection);
        command.Parameters.AddWithValue("high", LeaderKeyHigh);
        command.Parameters.AddWithValue("low", LeaderKeyLow);
        command.Parameters.AddWithValue("granted", granted);
        var pids = new List<int>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            pids.Add(reader.GetInt32(0));
        }

        return pids;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        // A lock wait may outlast the connection string's short command timeout.
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = (int)Settle.TotalSeconds };
        await command.ExecuteNonQueryAsync();
    }
}
