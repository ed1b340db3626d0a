using System.Net;
using System.Text.RegularExpressions;
using EventReplay.Contracts;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Monitoring;

/// <summary>
/// The console's pages through the public path, read as HTML without a browser (they are readable without JavaScript):
/// every page answers with what the monitor knows, a form's action changes the failed message, and the live stream
/// sends the endpoints' table.
/// </summary>
[NonParallelizable]
public partial class ConsolePageTests : StackOverEmptyLog
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Every_page_shows_what_the_monitor_knows_and_a_form_archives_a_failed_message()
    {
        var marker = $"console-{Guid.NewGuid():N}";
        await Broker.SendAsync(Topology.LiveQueue("balances"), "{not json " + marker);
        var listed = await Eventually.Until(() => PageAsync($"/console/failed-messages?q={marker}"), html => html.Contains("data-id=", StringComparison.Ordinal),
            Settle, "the poison message on the failed messages page");
        var id = DataId().Match(listed).Groups[1].Value;
        var filtered = await PageAsync($"/console/failed-messages?q={marker}&messageType=RecordedEvent&from=2000-01-01T00:00:00&queue=balances.live");
        var before2000 = await PageAsync($"/console/failed-messages?q={marker}&to=2000-01-01T00:00:00");
        var otherType = await PageAsync($"/console/failed-messages?q={marker}&messageType=NoSuchType");
        var dashboard = await Eventually.Until(() => PageAsync("/console/"), html => html.Contains("data-endpoint=\"balances\"", StringComparison.Ordinal)
            && html.Contains("data-endpoint=\"monitor\"", StringComparison.Ordinal), Settle, "the dashboard to list the endpoints");
        var queues = await Eventually.Until(() => PageAsync("/console/queues"), html => html.Contains("data-queue=\"balances.live\"", StringComparison.Ordinal),
            Settle, "the queues page to list the live queues");

        using var client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = true, UseCookies = true })
        {
            BaseAddress = Stack.LoadBalancer.BaseAddress,
        };
        // The console's own sign-in: a token in, its cookie out.
        var signIn = await client.GetStringAsync(new Uri("/console/sign-in", UriKind.Relative));
        using var signedIn = await client.PostAsync(new Uri("/console/sign-in", UriKind.Relative), new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["token"] = TestTokens.For("console operator", EventReplay.Security.Roles.Operator),
            ["__RequestVerificationToken"] = Token().Match(signIn).Groups[1].Value,
        }));
        Assert.That(signedIn.StatusCode, Is.EqualTo(HttpStatusCode.OK), await signedIn.Content.ReadAsStringAsync());
        var detail = await client.GetStringAsync(new Uri($"/console/failed-messages/{id}", UriKind.Relative));
        var token = Token().Match(detail).Groups[1].Value;
        using var archive = await client.PostAsync(new Uri($"/console/failed-messages/{id}?handler=Archive", UriKind.Relative),
            new FormUrlEncodedContent(new Dictionary<string, string> { ["__RequestVerificationToken"] = token }));
        var after = await archive.Content.ReadAsStringAsync();
        using var forged = await client.PostAsync(new Uri($"/console/failed-messages/{id}?handler=Unarchive", UriKind.Relative),
            new FormUrlEncodedContent(new Dictionary<string, string>()));

        Assert.Multiple(() =>
        {
            Assert.That(dashboard, Does.Contain("<title>Dashboard"));
            Assert.That(dashboard, Does.Contain("data-status=\"alive\""));
            Assert.That(dashboard, Does.Contain("Unreadable JSON"), "the poison message's group");
            Assert.That(queues, Does.Contain("<svg class=\"spark\""), "a sparkline of the last 15 minutes");
            Assert.That(detail, Does.Contain(marker), "the body");
            Assert.That(filtered, Does.Contain($"data-id=\"{id}\""), "type, queue and a time it failed after");
            Assert.That(before2000, Does.Not.Contain("data-id="), "nothing failed before 2000");
            Assert.That(otherType, Does.Not.Contain("data-id="), "another message type");
            Assert.That(archive.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the archive form, after its redirect");
            Assert.That(after, Does.Contain("id=\"message-status\">archived<"));
            Assert.That(forged.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), "a form without its anti-forgery token");
        });
    }

    [Test]
    public async Task The_older_link_keeps_the_filters_and_shows_the_messages_after_the_first_50()
    {
        const int count = 60;
        var type = $"ConsolePaging{Guid.NewGuid():N}";
        await Broker.SendManyAsync(Topology.LiveQueue("statistics"), Enumerable.Range(1, count).Select(i => $"{{\"n\":{i}}}"), type);
        const string list = "/console/failed-messages";
        var filtered = $"{list}?messageType={type}&queue=statistics.live";
        var (first, link, second) = await Eventually.Until(async () =>
        {
            var page = await PageAsync(filtered);
            var older = OlderLink().Match(page) is { Success: true } found ? WebUtility.HtmlDecode(found.Groups[1].Value) : null;
            return (First: page, Link: older, Second: older is null ? "" : await PageAsync(list + older));
        }, pages => Ids(pages.Second).Count == count - 50, Settle, $"all {count} collected, the last {count - 50} on the older page");

        Assert.Multiple(() =>
        {
            Assert.That(Ids(first), Has.Count.EqualTo(50));
            Assert.That(Ids(first).Concat(Ids(second)).Distinct().Count(), Is.EqualTo(count), "no message on both pages");
            Assert.That(link, Does.Contain($"messageType={type}").And.Contain("queue=statistics.live").And.Contain("&after="));
            Assert.That(OlderLink().IsMatch(second), Is.False, "the last page has no older link");
        });

        static List<string> Ids(string html) => [.. DataId().Matches(html).Select(match => match.Groups[1].Value)];
    }

    [Test]
    public async Task The_live_stream_sends_the_endpoints_table()
    {
        using var client = TestTokens.Authorized(new HttpClient { BaseAddress = Stack.LoadBalancer.BaseAddress, Timeout = Settle },
            TestTokens.For("console reader", EventReplay.Security.Roles.Reader));
        using var response = await client.GetAsync(new Uri("/console/live/endpoints", UriKind.Relative), HttpCompletionOption.ResponseHeadersRead);
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("text/event-stream"));
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var lines = new List<string>();
        while (await reader.ReadLineAsync() is { } line && !(line.Length == 0 && lines.Any(l => l.StartsWith("event: endpoints", StringComparison.Ordinal))))
        {
            lines.Add(line);
        }

        Assert.That(string.Join('\n', lines), Does.Contain("event: endpoints").And.Contain("id=\"endpoints-table\""));
    }

    private async Task<string> PageAsync(string path)
    {
        using var response = await Api.Http.GetAsync(new Uri(path, UriKind.Relative));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), path);
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("text/html"));
        return await response.Content.ReadAsStringAsync();
    }

    [GeneratedRegex("data-id=\"([0-9a-f-]{36})\"")]
    private static partial Regex DataId();

    [GeneratedRegex("<a href=\"([^\"]+)\" id=\"older\">")]
    private static partial Regex OlderLink();

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex Token();
}
