using System.Globalization;
using EventReplay.Tests.Integration.Infrastructure;
using EventReplay.Tests.Integration.Pipeline;
using EventReplay.Tests.Integration.Replays;
using Npgsql;

namespace EventReplay.Tests.Integration.Security;

/// <summary>
/// Schema changes are made by the owner role in their own step (eng/migrate.sh), and the services run as their own
/// roles with what each needs only, as eng/run.sh runs them: over databases of this test's own, migrated by the script,
/// the whole system takes commands, publishes, applies, rebuilds a read model (which its consumer's role makes and
/// swaps), answers the console's and the audit trail's reads; and each role is refused what it does not need.
/// </summary>
public sealed class DatabaseRoleTests
{
    private const string DatabaseName = "eventreplay_roles";

    private static readonly string[] Roles = ["er_producer", "er_balances", "er_statistics", "er_replay", "er_monitor"];

    private ServiceStack _stack = null!;

    private static string EventStore(string role) => Connection(TestEnvironment.EventStoreConnectionString, role);

    private static string ReadModels(string role) => Connection(TestEnvironment.ReadModelsConnectionString, role);

    private static string Connection(string tests, string role) =>
        new NpgsqlConnectionStringBuilder(tests) { Database = DatabaseName, Username = role }.ConnectionString;

    private static SystemDatabases Owner => new(EventStore("eventreplay"), ReadModels("eventreplay"));

    [OneTimeSetUp]
    public async Task MigrateAndStartTheSystemOnItsRoles()
    {
        foreach (var tests in new[] { TestEnvironment.EventStoreConnectionString, TestEnvironment.ReadModelsConnectionString })
        {
            await using var connection = new NpgsqlConnection(tests);
            await connection.OpenAsync();
            await Database.ExecuteAsync(connection, $"drop database if exists {DatabaseName} with (force)");
            await Database.ExecuteAsync(connection, $"create database {DatabaseName}");
        }

        // The broker's queues and Redis as the other tests leave them would hold another log's events.
        await PipelineState.ResetAsync(TestEnvironment.Databases, TestEnvironment.RedisConnectionString);
        await Scripts.OutputAsync(new Dictionary<string, string>
        {
            ["ER_PG_EVENTSTORE_PORT"] = new NpgsqlConnectionStringBuilder(TestEnvironment.EventStoreConnectionString).Port.ToString(CultureInfo.InvariantCulture),
            ["ER_PG_PORT"] = new NpgsqlConnectionStringBuilder(TestEnvironment.ReadModelsConnectionString).Port.ToString(CultureInfo.InvariantCulture),
            ["ER_EVENTSTORE_HA"] = "0",
        }, "migrate.sh", "--database", DatabaseName, "--configuration", TestEnvironment.Configuration);

        var services = new Dictionary<string, IReadOnlyDictionary<string, string>>
        {
            ["EventReplay.Producer"] = OwnRole("er_producer"),
            ["EventReplay.Consumers.Balances"] = OwnRole("er_balances"),
            ["EventReplay.Consumers.Statistics"] = OwnRole("er_statistics"),
            ["EventReplay.Replay"] = OwnRole("er_replay"),
            ["EventReplay.Monitor"] = OwnRole("er_monitor"),
        };
        _stack = await ServiceStack.StartedAsync(EventStore("eventreplay"), ReadModels("eventreplay"), services: services);
    }

    private static Dictionary<string, string> OwnRole(string role) => new()
    {
        ["ConnectionStrings__eventstore"] = EventStore(role),
        ["ConnectionStrings__readmodels"] = ReadModels(role),
        ["Database__Schema"] = "expect",
    };

    [OneTimeTearDown]
    public async Task Stop()
    {
        await _stack.DisposeAsync();
        NpgsqlConnection.ClearAllPools();
        foreach (var tests in new[] { TestEnvironment.EventStoreConnectionString, TestEnvironment.ReadModelsConnectionString })
        {
            await using var connection = new NpgsqlConnection(tests);
            await connection.OpenAsync();
            await Database.ExecuteAsync(connection, $"drop database if exists {DatabaseName} with (force)");
        }
    }

    [Test]
    public async Task The_system_runs_on_its_own_roles_through_commands_a_rebuild_and_the_operators_reads()
    {
        await ReplayApi.MakeHistoryAsync(_stack.Api, accounts: 3, deposits: 2);
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(_stack.Api, Owner);

        var replay = await ReplayApi.StartAndFinishAsync(_stack.Api, """{"target":"balances","mode":"rebuild","reason":"on its own roles"}""");
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(_stack.Api, Owner);
        using var audit = await _stack.Api.Http.GetAsync(new Uri("/api/audit?action=replay.start", UriKind.Relative));
        using var failed = await _stack.Api.Http.GetAsync(new Uri("/api/failed-messages/groups", UriKind.Relative));

        Assert.Multiple(async () =>
        {
            Assert.That(replay.GetProperty("status").GetString(), Is.EqualTo("completed"), replay.ToString());
            Assert.That((await ProducerApi.BodyAsync(audit, 200)).GetProperty("entries").GetArrayLength(), Is.EqualTo(1));
            Assert.That((int)failed.StatusCode, Is.EqualTo(200), await failed.Content.ReadAsStringAsync());
            Assert.That(await Database.ScalarAsync(ReadModels("eventreplay"),
                "select count(*) from pg_namespace where nspname = 'balances' and pg_get_userbyid(nspowner) = 'er_balances'"),
                Is.EqualTo(1), "the swapped-in copy is the consumer's");
            Assert.That(await Database.ScalarAsync(EventStore("eventreplay"),
                "select count(*) from pg_tables where schemaname = 'producer' and tableowner <> 'eventreplay'"),
                Is.Zero, "the event store's tables are the owner's alone");
        });
    }

    // What a role must not do, each refused by PostgreSQL (insufficient privilege or not the owner).
    [TestCase("er_balances", "eventstore", "insert into producer.mt_events default values")]
    [TestCase("er_statistics", "eventstore", "delete from producer.mt_events")]
    [TestCase("er_balances", "eventstore", "update producer.publisher_checkpoint set position = 0")]
    [TestCase("er_statistics", "readmodels", "select * from balances.accounts")]
    [TestCase("er_producer", "readmodels", "select * from balances.accounts")]
    [TestCase("er_producer", "readmodels", "insert into audit.entries (at, actor, action, target, via) values (now(), 'x', 'x', 'x', 'x')")]
    [TestCase("er_producer", "eventstore", "create table producer.forged (id int)")]
    [TestCase("er_producer", "eventstore", "alter table producer.mt_events add column forged int")]
    [TestCase("er_producer", "eventstore", "drop table producer.mt_streams")]
    [TestCase("er_replay", "eventstore", "update producer.mt_events set data = '{}'")]
    [TestCase("er_replay", "readmodels", "alter table replay.mt_doc_replay add column forged int")]
    [TestCase("er_replay", "readmodels", "update audit.entries set actor = 'someone else'")]
    [TestCase("er_replay", "readmodels", "delete from audit.entries")]
    [TestCase("er_monitor", "readmodels", "truncate audit.entries")]
    [TestCase("er_monitor", "readmodels", "drop table monitor.queue_samples")]
    [TestCase("er_monitor", "readmodels", "update balances.accounts set balance = 0")]
    [TestCase("er_monitor", "eventstore", "insert into producer.store_epoch (epoch, reason) values ('forged', 'forged')")]
    [TestCase("er_balances", "readmodels", "select * from replay.mt_doc_replay")]
    [TestCase("er_balances", "readmodels", "create table monitor.forged (id int)")]
    public void A_role_is_refused_what_it_does_not_need(string role, string database, string sql)
    {
        var connectionString = database == "eventstore" ? EventStore(role) : ReadModels(role);

        Assert.That(async () =>
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync();
        }, Throws.InstanceOf<PostgresException>().With.Property(nameof(PostgresException.SqlState)).EqualTo(PostgresErrorCodes.InsufficientPrivilege));
    }

    // And what each needs, allowed: reads of the log by its readers, the producer's appends (checked by the first test).
    [TestCase("er_balances", "select count(*) from producer.mt_events")]
    [TestCase("er_statistics", "select count(*) from producer.store_epoch")]
    [TestCase("er_replay", "select last_value from producer.mt_events_sequence")]
    [TestCase("er_monitor", "select count(*) from producer.publisher_checkpoint")]
    public async Task A_reader_of_the_log_may_read_it(string role, string sql) =>
        Assert.That(await Database.ScalarAsync(EventStore(role), sql), Is.GreaterThanOrEqualTo(0));

    [Test]
    public void Every_service_has_a_login_role_of_its_own() =>
        Assert.That(async () =>
        {
            foreach (var role in Roles)
            {
                await using var connection = new NpgsqlConnection(ReadModels(role));
                await connection.OpenAsync();
            }
        }, Throws.Nothing);
}
