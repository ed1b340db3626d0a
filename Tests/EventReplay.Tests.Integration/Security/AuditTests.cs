using System.Net;
using System.Text;
using System.Text.Json;
using EventReplay.Contracts;
using EventReplay.Security;
using EventReplay.Tests.Integration.Infrastructure;
using Npgsql;

namespace EventReplay.Tests.Integration.Security;

/// <summary>
/// Who did what is the caller's identity, never what the caller says: replay actions over HTTP are the token's name
/// (<c>X-Requested-By</c> kept as <c>onBehalfOf</c>), over AMQP the broker's validated user; every one is in the audit
/// trail (<c>GET /api/audit</c>) with its address and correlation id, and that trail cannot be changed.
/// </summary>
public sealed class AuditTests : StackOverEmptyLog
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Replay_actions_over_http_are_the_tokens_and_listed_with_address_and_correlation_id()
    {
        var actor = $"audit-{Guid.NewGuid():N}"[..20];
        using var ops = TestTokens.Authorized(Stack.CreateClient(), TestTokens.For(actor, Roles.Operator));
        var id = $"audit-{Guid.NewGuid():N}";
        using var start = new HttpRequestMessage(HttpMethod.Post, new Uri("/api/replays", UriKind.Relative))
        {
            Content = new StringContent($$"""{"replayId":"{{id}}","target":"statistics","mode":"redeliver","fromPosition":999999999,"reason":"audit"}""",
                Encoding.UTF8, "application/json"),
        };
        start.Headers.Add("X-Requested-By", "someone-else@example.test");
        using var started = await ops.SendAsync(start);
        Assert.That(started.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), await started.Content.ReadAsStringAsync());
        var correlation = started.Headers.GetValues("X-Correlation-Id").Single();
        using var cancelled = await ops.PostAsync(new Uri($"/api/replays/{id}/cancel", UriKind.Relative), content: null);

        var replay = await ReplayApi.ShowAsync(Stack.Api, id);
        var entries = await Eventually.Until(() => AuditAsync($"?actor={actor}"), list => list.Count == 2, Settle, "both actions in the trail");
        Assert.Multiple(() =>
        {
            Assert.That(replay?.GetProperty("requestedBy").GetString(), Is.EqualTo(actor), "the token's name, not the header");
            Assert.That(replay?.GetProperty("onBehalfOf").GetString(), Is.EqualTo("someone-else@example.test"));
            Assert.That(entries.Select(e => e.GetProperty("action").GetString()), Is.EqualTo(new[] { "replay.cancel", "replay.start" }), "newest first");
            Assert.That(entries.Select(e => e.GetProperty("target").GetString()), Is.All.EqualTo(id));
            Assert.That(entries.Select(e => e.GetProperty("via").GetString()), Is.All.EqualTo("http"));
            Assert.That(entries[1].GetProperty("correlationId").GetString(), Is.EqualTo(correlation));
            Assert.That(entries[1].GetProperty("onBehalfOf").GetString(), Is.EqualTo("someone-else@example.test"));
            Assert.That(entries[1].GetProperty("address").GetString(), Is.Not.Null.And.Not.Empty);
        });
    }

    [Test]
    public async Task An_amqp_start_is_the_brokers_user_whatever_its_body_says()
    {
        var id = $"audit-amqp-{Guid.NewGuid():N}";
        var user = new Uri(TestEnvironment.RabbitMqConnectionString).UserInfo.Split(':')[0];
        await Broker.SendAsync(Topology.ReplayCommandsQueue,
            $$"""{"replayId":"{{id}}","target":"statistics","mode":"redeliver","fromPosition":999999999,"requestedBy":"mallory"}""",
            type: "StartReplay", userId: user);
        var replay = await Eventually.Until(() => ReplayApi.ShowAsync(Stack.Api, id), r => r is not null, Settle, "the replay");
        var entry = (await Eventually.Until(() => AuditAsync("?action=replay.start"),
            list => list.Any(e => e.GetProperty("target").GetString() == id), Settle, "the start in the trail")).First(e => e.GetProperty("target").GetString() == id);
        Assert.Multiple(() =>
        {
            Assert.That(replay!.Value.GetProperty("requestedBy").GetString(), Is.EqualTo($"amqp:{user}"));
            Assert.That(replay.Value.GetProperty("onBehalfOf").GetString(), Is.EqualTo("mallory"), "what the body said, kept beside it");
            Assert.That(entry.GetProperty("actor").GetString(), Is.EqualTo($"amqp:{user}"));
            Assert.That(entry.GetProperty("via").GetString(), Is.EqualTo("amqp"));
        });
    }

    [Test]
    public async Task The_trail_refuses_changes_and_bad_queries()
    {
        using var ops = TestTokens.Authorized(Stack.CreateClient(), TestTokens.For("audit-ops", Roles.Operator));
        using var control = await ops.PostAsync(new Uri("/api/replays/audit-none/pause", UriKind.Relative), content: null);
        await using var connection = new NpgsqlConnection(TestEnvironment.ReadModelsConnectionString);
        await connection.OpenAsync();
        var refusals = new List<string>();
        foreach (var sql in new[] { "update audit.entries set actor = 'someone'", "delete from audit.entries", "truncate audit.entries" })
        {
            await using var command = new NpgsqlCommand(sql, connection);
            try
            {
                await command.ExecuteNonQueryAsync();
            }
            catch (PostgresException exception)
            {
                refusals.Add(exception.MessageText);
            }
        }

        using var badLimit = await ops.GetAsync(new Uri("/api/audit?limit=0", UriKind.Relative));
        using var badTime = await ops.GetAsync(new Uri("/api/audit?from=yesterday", UriKind.Relative));
        Assert.Multiple(() =>
        {
            Assert.That(control.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "an unknown replay: nothing done, nothing audited");
            Assert.That(refusals, Has.Count.EqualTo(3));
            Assert.That(refusals, Is.All.Contains("append-only"));
            Assert.That(badLimit.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(badTime.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        });
    }

    private async Task<List<JsonElement>> AuditAsync(string query)
    {
        using var response = await Stack.Api.Http.GetAsync(new Uri("/api/audit" + query, UriKind.Relative));
        return [.. (await ProducerApi.BodyAsync(response, 200)).GetProperty("entries").EnumerateArray()];
    }
}
