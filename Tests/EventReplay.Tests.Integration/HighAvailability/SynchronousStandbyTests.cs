using System.Net;
using EventReplay.Tests.Integration.Infrastructure;
using EventReplay.Tests.Integration.Pipeline;

namespace EventReplay.Tests.Integration.HighAvailability;

/// <summary>
/// An event store whose synchronous standby stops confirming: what PostgreSQL commits on the primary alone, a failover
/// would lose, so it is neither acknowledged nor published until the standby confirms it (or the primary stops waiting
/// for one). The standby is one that never answers (<c>synchronous_standby_names</c> naming none that exists): that is
/// what a primary sees once its standby was promoted away from it, in a switchover or a failover, until it stops.
/// The services are given the test's connection string as it is, without <c>Cancellation Timeout=-1</c>.
/// </summary>
public class SynchronousStandbyTests
{
    private static readonly TimeSpan Settle = LivePipelineTests.Settle;

    [Test]
    public async Task A_commit_the_standby_does_not_confirm_is_answered_503_even_from_its_key_and_is_published_only_once_confirmed()
    {
        await using var eventStore = new PostgresInstance();
        await eventStore.StartAsync();
        var databases = TestEnvironment.Databases with { EventStore = eventStore.ConnectionString };
        await PipelineState.ResetWithEmptyLogAsync(databases, TestEnvironment.RedisConnectionString);
        await using var stack = await ServiceStack.StartedAsync(eventStore: eventStore.ConnectionString);
        var id = ProducerApi.NewAccountId();
        await stack.Api.OpenedAsync(id);
        await Eventually.Until(() => PipelineFailureTests.ReadAsync(stack.Api.Http, id), r => r.Version == 1, Settle, "the account to be read");

        await eventStore.AwaitAbsentStandbyAsync();
        var waited = System.Diagnostics.Stopwatch.StartNew();
        using var first = await stack.Api.DepositAsync(id, "5", key: "unconfirmed");
        var firstTook = waited.Elapsed;
        // PostgreSQL commits it on this server alone once the wait is given up: the premise of what follows. The
        // client's cancel reaches the server on its own connection, so the commit becomes visible a moment after the
        // 503, not necessarily before it.
        var onPrimary = await Eventually.Until(() => EventsOfAsync(eventStore.ConnectionString, id), versions => versions.Count == 2,
            Settle, "the deposit to be committed on the primary alone");
        using var retried = await stack.Api.DepositAsync(id, "5", key: "unconfirmed");
        await Eventually.Until(() => Task.FromResult(stack.Producer.ReadLog()), log => log.Contains("not confirmed by a synchronous standby", StringComparison.Ordinal),
            Settle, "the publisher to hold the unconfirmed deposit back");
        var whileUnconfirmed = await PipelineFailureTests.ReadAsync(stack.Api.Http, id);
        await TestContext.Out.WriteLineAsync($"with the standby silent: the deposit answered {(int)first.StatusCode} after {firstTook.TotalSeconds:0.0} s, "
            + $"its retry {(int)retried.StatusCode}; on the primary: {onPrimary.Count} events; the read side at version {whileUnconfirmed.Version}");

        Assert.Multiple(() =>
        {
            foreach (var (name, response) in new[] { ("the deposit", first), ("its retry with the same key", retried) })
            {
                Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable), name);
                Assert.That(response.Headers.RetryAfter, Is.Not.Null, $"{name}: Retry-After");
                Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"), name);
            }

            Assert.That(onPrimary, Is.EqualTo(new[] { 1L, 2L }), "the deposit committed on the primary alone");
            Assert.That(whileUnconfirmed.Version, Is.EqualTo(1), "the unconfirmed deposit was not published");
        });

        // The standby confirms (here: the primary stops waiting for one): the same key now gets the deposit that was
        // committed, which is published once.
        await eventStore.ForgetStandbyAsync();
        var confirmed = await Eventually.Until(async () =>
        {
            using var response = await stack.Api.DepositAsync(id, "5", key: "unconfirmed");
            return response.StatusCode == HttpStatusCode.OK ? await ProducerApi.BodyAsync(response, 200) : (System.Text.Json.JsonElement?)null;
        }, body => body is not null, Settle, "the retry to be answered 200");
        var read = await Eventually.Until(() => PipelineFailureTests.ReadAsync(stack.Api.Http, id), r => r.Version == 2, Settle, "the deposit to be read");
        Assert.Multiple(() =>
        {
            Assert.That(confirmed!.Value.GetProperty("version").GetInt64(), Is.EqualTo(2), "the deposit committed while unconfirmed, not a second one");
            Assert.That(read.Balance, Is.EqualTo(5m));
        });
        Assert.That(await EventsOfAsync(eventStore.ConnectionString, id), Is.EqualTo(new[] { 1L, 2L }), "one deposit in the log");
        await LivePipelineTests.AssertReadModelEqualsFoldAsync(stack.Api, databases);
    }

    // The stream's versions as the server holds them (StoredEvents' rows: seq_id|stream_id|version|type|data).
    private static async Task<List<long>> EventsOfAsync(string connectionString, string id) =>
        [.. (await StoredEvents.RowsAsync(connectionString, "stream_id = @id", ("id", id))).Select(row => long.Parse(row.Split('|')[2],
            System.Globalization.CultureInfo.InvariantCulture))];
}
