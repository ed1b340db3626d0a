using System.Diagnostics;
using System.Text.Json;
using EventReplay.Contracts;
using EventReplay.Tests.Integration.Infrastructure;
using Microsoft.Playwright;
using Microsoft.Playwright.NUnit;

namespace EventReplay.Tests.Integration.Monitoring;

/// <summary>
/// The console in a real browser (Debian's chromium, headless, driven by Playwright's NUnit fixtures) through the public
/// path, against the whole system. Each test saves a screenshot of the pages it saw under
/// <c>.local/test-results/console/</c>.
/// </summary>
[NonParallelizable]
public class ConsoleBrowserTests : PlaywrightTest
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(30);

    private static readonly string Chromium = Environment.GetEnvironmentVariable("EVENTREPLAY_TEST_CHROMIUM") ?? "/usr/bin/chromium";

    private static readonly string Screenshots = Path.Combine(TestEnvironment.RepoRoot, ".local", "test-results", "console");

    private ServiceStack _stack = null!;

    private IPage _page = null!;

    private IBrowserContext _context = null!;

    [OneTimeSetUp]
    public async Task StartTheSystemAndABrowser()
    {
        Directory.CreateDirectory(Screenshots);
        await PipelineState.ResetWithEmptyLogAsync(TestEnvironment.Databases, TestEnvironment.RedisConnectionString);
        // Earlier fixtures' stacks were killed, so their instances show missing for a day: the pages show this stack's alone.
        await using (var connection = new Npgsql.NpgsqlConnection(TestEnvironment.ReadModelsConnectionString))
        {
            await connection.OpenAsync();
            await Database.ExecuteAsync(connection,
                "do $$ begin if to_regclass('monitor.endpoint_instances') is not null then delete from monitor.endpoint_instances; end if; end $$");
        }

        _stack = await ServiceStack.StartedAsync();
    }

    /// <summary>
    /// Runs after the fixture's own set-up (which gives <see cref="PlaywrightTest.BrowserType"/>): one Debian chromium per
    /// test worker, launched by its path (browsers are never downloaded), kept for the next test as Playwright's
    /// <c>BrowserTest</c> keeps its own, and a new context per test.
    /// </summary>
    [SetUp]
    public async Task OpenAPage()
    {
        SetDefaultExpectTimeout((float)Settle.TotalMilliseconds);
        var browser = (await RegisterService("debian-chromium", async () => new DebianChromium(
            await BrowserType.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = Chromium, Headless = true })))).Browser;
        _context = await browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = _stack.LoadBalancer.BaseAddress.ToString(), ViewportSize = new ViewportSize { Width = 1400, Height = 900 },
        });
        _page = await _context.NewPageAsync();
        _page.SetDefaultTimeout((float)Settle.TotalMilliseconds);
        // Signed in as an operator the way a person is: the console sends a browser without its cookie to the sign-in
        // page, which takes a token and brings it back.
        await _page.GotoAsync("/console/");
        await Expect(_page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/console/sign-in\\?returnUrl="));
        await _page.Locator("#token").FillAsync(TestTokens.For("console operator", EventReplay.Security.Roles.Operator));
        await _page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(_page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/console/?$"));
    }

    [TearDown]
    public async Task CloseThePage() => await _context.DisposeAsync();

    [OneTimeTearDown]
    public async Task StopTheSystem() => await _stack.DisposeAsync();

    [Test]
    public async Task The_dashboard_lists_every_endpoint_alive_and_a_killed_consumer_goes_missing_and_comes_back_live()
    {
        await _page.GotoAsync("/console/");
        foreach (var endpoint in new[] { "producer", "balances", "statistics", "replay", "monitor", "gateway" })
        {
            await Expect(_page.Locator($"#endpoints tr[data-endpoint='{endpoint}'][data-status='alive']").First).ToBeVisibleAsync();
        }

        await ShotAsync("dashboard");

        // The endpoints page, left open: the kill and the restart arrive over the live stream, without a reload.
        await _page.GotoAsync("/console/endpoints");
        var pid = _stack.Balances.ProcessId!.Value;
        await Expect(_page.Locator($"#endpoints tr[data-pid='{pid}'][data-status='alive']")).ToBeVisibleAsync();
        await ShotAsync("endpoints");
        var killed = Stopwatch.StartNew();
        await Signals.SendAsync(pid, "KILL");
        await Expect(_page.Locator($"#endpoints tr[data-pid='{pid}'][data-status='missing']")).ToBeVisibleAsync();
        var missingAfter = killed.Elapsed;
        await ShotAsync("endpoints-missing");
        var restarted = await Eventually.Until(() => Task.FromResult(_stack.Balances.ProcessId), p => p is { } next && next != pid, Settle,
            "the balances consumer to be started again");
        await Expect(_page.Locator($"#endpoints tr[data-pid='{restarted}'][data-status='alive']")).ToBeVisibleAsync();
        await TestContext.Out.WriteLineAsync($"killed balances shown missing after {missingAfter.TotalSeconds:0.0} s, "
            + $"its restart (pid {restarted}) alive after {killed.Elapsed.TotalSeconds:0.0} s, on a page never reloaded");
    }

    [Test]
    public async Task A_poison_message_shows_under_failed_messages_within_10_s_and_is_archived_and_unarchived()
    {
        var marker = $"poison-{Guid.NewGuid():N}";
        var sent = Stopwatch.StartNew();
        await Broker.SendAsync(Topology.LiveQueue("balances"), "{not json " + marker);
        var row = _page.Locator("#messages-table tr[data-id]");
        await Eventually.Until(async () =>
        {
            await _page.GotoAsync($"/console/failed-messages?q={marker}");
            return await row.CountAsync();
        }, count => count == 1, TimeSpan.FromSeconds(10), "the poison message under Failed messages");
        await TestContext.Out.WriteLineAsync($"the poison message was listed {sent.Elapsed.TotalSeconds:0.0} s after it was published");
        await ShotAsync("failed-messages");

        await row.Locator("a").ClickAsync();
        await Expect(_page.Locator("#body")).ToContainTextAsync(marker);
        await ShotAsync("failed-message");
        await _page.Locator("#archive").ClickAsync();
        await Expect(_page.Locator("#message-status")).ToHaveTextAsync("archived");
        await _page.Locator("#unarchive").ClickAsync();
        await Expect(_page.Locator("#message-status")).ToHaveTextAsync("unresolved");
    }

    [Test]
    public async Task Edit_and_retry_of_a_fixable_message_shows_its_effect_in_the_read_model()
    {
        var account = ProducerApi.NewAccountId();
        await _stack.Api.OpenedAsync(account);
        var position = (await _stack.Api.StreamAsync(account))![0].GetProperty("position").GetInt64();
        await Broker.SendAsync(Topology.LiveQueue("balances"),
            $$$"""{"position":{{{position}}},"streamId":"{{{account}}}","version":2,"type":"FundsDeposited","timestamp":"2026-12-01T00:00:00Z","data":{"accountId":"{{{account}}}","amount":"seven"}}""");
        var row = _page.Locator("#messages-table tr[data-id] a");
        await Eventually.Until(async () =>
        {
            await _page.GotoAsync($"/console/failed-messages?q={account}");
            return await row.CountAsync();
        }, count => count == 1, Settle, "the broken deposit under Failed messages");
        await row.ClickAsync();

        var body = await _page.Locator("#edit-body").InputValueAsync();
        await _page.Locator("#edit-body").FillAsync(body.Replace("\"seven\"", "7", StringComparison.Ordinal));
        await ShotAsync("edit-and-retry");
        await _page.Locator("#edit-and-retry").ClickAsync();
        await Expect(_page.Locator("#action-result")).ToContainTextAsync("Edited message sent");

        var read = await Eventually.Until(async () =>
        {
            using var response = await _stack.Api.Http.GetAsync(new Uri($"/api/accounts/{account}", UriKind.Relative));
            return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
        }, r => r.TryGetProperty("version", out var version) && version.GetInt64() == 2, Settle, "the edited deposit in the read model");
        Assert.That(read.GetProperty("balance").GetDecimal(), Is.EqualTo(7m));
        await _page.ReloadAsync();
        await Expect(_page.Locator("#message-status")).ToHaveTextAsync("resolved");
    }

    [Test]
    public async Task A_replay_started_from_the_console_shows_its_progress_live_pauses_resumes_and_completes()
    {
        await ReplayApi.MakeHistoryAsync(_stack.Api, accounts: 50, deposits: 4);
        await _page.GotoAsync("/console/replays");
        await _page.Locator("#target").SelectOptionAsync("statistics");
        await _page.Locator("#batch-size").FillAsync("10");
        await _page.Locator("#max-rate").FillAsync("20");
        await _page.Locator("#reason").FillAsync("started from the console");
        await _page.Locator("#preview-button").ClickAsync();
        await Expect(_page.Locator("#preview")).ToContainTextAsync("Nothing was sent");
        var preview = await _page.Locator("#preview").InnerTextAsync();
        await _page.Locator("#start-button").ClickAsync();
        await Expect(_page.Locator("#action-result")).ToContainTextAsync("started");
        var replayId = System.Text.RegularExpressions.Regex.Match(await _page.Locator("#action-result").InnerTextAsync(), "Replay (\\S+) started").Groups[1].Value;
        var row = _page.Locator($"#replays-table tr[data-replay='{replayId}']");

        // Progress arrives over the live stream; pause and resume from the row.
        await Expect(row).ToHaveAttributeAsync("data-status", "running");
        await ShotAsync("replays");
        await row.Locator("button[data-action='pause']").ClickAsync();
        await Expect(row).ToHaveAttributeAsync("data-status", "paused");
        var pausedAt = await row.Locator(".done").InnerTextAsync();

        // The dashboard, in a second tab, lists it among the running replays while it waits, and resumes it from there
        // (coming back to the dashboard); the first tab sees it run on over its live stream.
        var dashboard = await _context.NewPageAsync();
        await dashboard.GotoAsync("/console/");
        var onDashboard = dashboard.Locator($"#replays-table tr[data-replay='{replayId}'][data-status='paused']");
        await Expect(onDashboard).ToBeVisibleAsync();
        await Expect(dashboard.Locator("#running-count")).Not.ToHaveAttributeAsync("data-count", "0");
        await dashboard.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Screenshots, "dashboard-replay.png"), FullPage = true });
        await onDashboard.Locator("button[data-action='resume']").ClickAsync();
        await Expect(dashboard.Locator("#action-result")).ToContainTextAsync($"Replay {replayId}: resume asked");
        await Expect(dashboard).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/console/?$"));
        await dashboard.CloseAsync();
        await Expect(row).ToHaveAttributeAsync("data-status", "completed", new LocatorAssertionsToHaveAttributeOptions { Timeout = 60_000 });
        var done = await row.Locator("progress").GetAttributeAsync("value");
        var max = await row.Locator("progress").GetAttributeAsync("max");
        await TestContext.Out.WriteLineAsync($"{preview} | paused at {pausedAt} events, completed with {done} of {max}");
        Assert.That(done, Is.EqualTo(max), "the progress bar full at the end");
        Assert.That(long.Parse(pausedAt, System.Globalization.CultureInfo.InvariantCulture), Is.LessThan(long.Parse(max!, System.Globalization.CultureInfo.InvariantCulture)),
            "paused before the end");
    }

    [Test]
    public async Task The_events_page_finds_a_stream_and_shows_where_one_of_its_events_went()
    {
        var account = ProducerApi.NewAccountId();
        await _stack.Api.OpenedAsync(account);
        using (var deposit = await _stack.Api.DepositAsync(account, "5"))
        {
            await ProducerApi.BodyAsync(deposit, 200);
        }

        await _page.GotoAsync("/console/events");
        await _page.Locator("#stream").FillAsync(account);
        await _page.Locator("#stream-form button").ClickAsync();
        await Expect(_page.Locator("#events-table tr[data-version]")).ToHaveCountAsync(2);
        await Expect(_page.Locator("#events-table tr[data-version='2'] .trace")).Not.ToBeEmptyAsync();
        await _page.Locator("#events-table tr[data-version='2'] a").First.ClickAsync();

        // A consumer's checkpoint is as recent as its last heartbeat (5 s): the flow is complete once both said so.
        var applied = _page.Locator("#flow-table tr[data-step='applied'] td:nth-child(3)");
        await Eventually.Until(async () =>
        {
            await _page.ReloadAsync();
            return await applied.AllInnerTextsAsync();
        }, statuses => statuses.Count == 2 && statuses.All(status => status == "done"), Settle, "both consumers to have applied the deposit");
        var steps = await _page.Locator("#flow-table tr[data-step]").EvaluateAllAsync<string[]>(
            "rows => rows.map(r => r.dataset.step + ': ' + r.children[2].innerText)");
        await ShotAsync("events");
        await TestContext.Out.WriteLineAsync(string.Join("; ", steps));
        Assert.That(steps, Is.EqualTo(new[] { "command: done", "committed: done", "published: done", "applied: done", "applied: done" }));
    }

    [Test]
    public async Task The_queues_page_draws_each_queue_with_its_last_15_minutes()
    {
        await Eventually.Until(async () =>
        {
            await _page.GotoAsync("/console/queues");
            return await _page.Locator("#queues-table tr[data-queue='balances.live'] svg.spark").CountAsync();
        }, count => count == 1, Settle, "the balances' live queue with its sparkline");
        await ShotAsync("queues");
    }

    /// <summary>The worker's browser: emptied between tests (its contexts closed), closed when a test failed.</summary>
    private sealed class DebianChromium(IBrowser browser) : IWorkerService
    {
        public IBrowser Browser => browser;

        public async Task ResetAsync()
        {
            foreach (var context in browser.Contexts.ToArray())
            {
                await context.CloseAsync();
            }
        }

        public async Task DisposeAsync() => await browser.CloseAsync();
    }

    private async Task ShotAsync(string name) =>
        await _page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Screenshots, $"{name}.png"), FullPage = true });
}
