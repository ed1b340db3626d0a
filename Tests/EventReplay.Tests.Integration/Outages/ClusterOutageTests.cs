using System.Net;
using EventReplay.Tests.Integration.Infrastructure;
using EventReplay.Tests.Integration.Pipeline;

namespace EventReplay.Tests.Integration.Outages;

/// <summary>
/// The event store and the read models on PostgreSQL servers of their own, one of them the test's to stop: losing the
/// event store never stops reads, losing the read models never stops commands.
/// </summary>
public class ClusterOutageTests
{
    private static readonly TimeSpan Settle = LivePipelineTests.Settle;

    [Test]
    public async Task With_the_event_store_down_reads_keep_answering_from_their_own_database_and_commands_get_503()
    {
        await using var eventStore = new PostgresInstance();
        await eventStore.StartAsync();
        var databases = TestEnvironment.Databases with { EventStore = eventStore.ConnectionString };
        await PipelineState.ResetWithEmptyLogAsync(databases, TestEnvironment.RedisConnectionString);
        await using var stack = await ServiceStack.StartedAsync(eventStore: eventStore.ConnectionString);
        var id = ProducerApi.NewAccountId();
        await stack.Api.OpenedAsync(id);
        using (var deposit = await stack.Api.DepositAsync(id, "5")) { await ProducerApi.BodyAsync(deposit, 200); }
        await Eventually.Until(() => PipelineFailureTests.ReadAsync(stack.Api.Http, id), r => r.Version == 2, Settle, "the deposit to be read");

        await eventStore.StopAsync();
        var read = await PipelineFailureTests.ReadAsync(stack.Api.Http, id);
        using var statistics = await stack.Api.Http.GetAsync(new Uri("/api/statistics", UriKind.Relative));
        using var refused = await stack.Api.DepositAsync(id, "1");
        var ready = await ReadyAsync(stack);

        Assert.Multiple(() =>
        {
            Assert.That(read.Status, Is.EqualTo(HttpStatusCode.OK), "an account read");
            Assert.That(read.Version, Is.EqualTo(2));
            Assert.That(read.Stale, Is.False, "the read model's own database answered");
            Assert.That(statistics.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the statistics");
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable), "a command");
            Assert.That(refused.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
            Assert.That(refused.Headers.RetryAfter, Is.Not.Null);
            Assert.That(ready, Is.EqualTo(new Dictionary<string, HttpStatusCode>
            {
                ["producer"] = HttpStatusCode.ServiceUnavailable,
                ["balances"] = HttpStatusCode.OK,
                ["statistics"] = HttpStatusCode.OK,
            }));
        });

        await eventStore.StartAsync();
        await Eventually.Until(async () =>
        {
            using var response = await stack.Api.DepositAsync(id, "1", key: "after-outage");
            return response.StatusCode;
        }, status => status == HttpStatusCode.OK, Settle, "a deposit to succeed again");
        await Eventually.Until(() => PipelineFailureTests.ReadAsync(stack.Api.Http, id), r => r.Version == 3, Settle, "the new deposit to be read");
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(stack.Api, databases);
    }

    [Test]
    public async Task With_the_read_models_down_commands_keep_being_accepted_and_apply_once_they_are_back()
    {
        await using var readModels = new PostgresInstance();
        await readModels.StartAsync();
        var databases = TestEnvironment.Databases with { ReadModels = readModels.ConnectionString };
        await PipelineState.ResetWithEmptyLogAsync(databases, TestEnvironment.RedisConnectionString);
        await using var stack = await ServiceStack.StartedAsync(readModels: readModels.ConnectionString);
        var id = ProducerApi.NewAccountId();
        await stack.Api.OpenedAsync(id);
        await Eventually.Until(() => PipelineFailureTests.ReadAsync(stack.Api.Http, id), r => r.Version == 1, Settle, "the account to be read");

        await readModels.StopAsync();
        var accepted = new List<HttpStatusCode>();
        foreach (var amount in new[] { "1", "2", "3" })
        {
            using var deposit = await stack.Api.DepositAsync(id, amount);
            accepted.Add(deposit.StatusCode);
        }

        var ready = await ReadyAsync(stack);
        Assert.Multiple(() =>
        {
            Assert.That(accepted, Is.All.EqualTo(HttpStatusCode.OK), "commands while the read models are down");
            Assert.That(ready["producer"], Is.EqualTo(HttpStatusCode.OK));
            Assert.That(ready["balances"], Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        });

        await readModels.StartAsync();
        var read = await Eventually.Until(() => PipelineFailureTests.ReadAsync(stack.Api.Http, id), r => r is { Version: 4, Stale: false }, Settle,
            "the deposits made during the outage to be read");
        Assert.That(read.Balance, Is.EqualTo(6m));
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(stack.Api, databases);
    }

    private static async Task<Dictionary<string, HttpStatusCode>> ReadyAsync(ServiceStack stack)
    {
        var ready = new Dictionary<string, HttpStatusCode>();
        foreach (var (name, service) in new[] { ("producer", stack.Producer), ("balances", stack.Balances), ("statistics", stack.Statistics) })
        {
            using var client = service.CreateClient();
            using var response = await client.GetAsync(new Uri("/health/ready", UriKind.Relative));
            ready[name] = response.StatusCode;
        }

        return ready;
    }
}
