using System.Diagnostics;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Replays;

/// <summary>The <c>eventreplay</c> command against the running system, as an operator uses it.</summary>
public class CliTests : StackOverEmptyLog
{
    [Test]
    public async Task Start_with_watch_follows_the_replay_to_its_end_and_list_shows_it()
    {
        await ReplayApi.MakeHistoryAsync(Stack.Api, accounts: 1, deposits: 2);
        using var plan = await Stack.Api.PostJsonAsync("/api/replays/dry-run", """{"target":"balances","mode":"redeliver"}""");
        var from = Math.Max(1, (await ProducerApi.BodyAsync(plan, 200)).GetProperty("toPosition").GetInt64() - 99);
        var id = $"cli-{Guid.NewGuid():N}";

        var start = await RunAsync("replay", "start", "--target", "balances", "--mode", "redeliver", "--from-position", $"{from}",
            "--batch-size", "10", "--id", id, "--reason", "from the cli", "--requested-by", "operator", "--watch");
        var list = await RunAsync("replay", "list", "--limit", "5");

        Assert.Multiple(() =>
        {
            Assert.That(start.ExitCode, Is.Zero, start.Output + start.Error);
            Assert.That(start.Output, Does.Contain($"Started replay {id}"));
            Assert.That(start.Output, Does.Contain("completed: 0 applied"));
            Assert.That(list.ExitCode, Is.Zero, list.Error);
            Assert.That(list.Output, Does.Contain(id));
        });
        var replay = await ReplayApi.ShowAsync(Stack.Api, id);
        Assert.That((replay?.GetProperty("requestedBy").GetString(), replay?.GetProperty("onBehalfOf").GetString(), replay?.GetProperty("reason").GetString()),
            Is.EqualTo((Environment.UserName, "operator", "from the cli")), "the CLI's own token names the user; --requested-by is whom it acts for");
    }

    [Test]
    public async Task A_refused_request_is_printed_plainly_with_its_reasons()
    {
        var result = await RunAsync("replay", "start", "--target", "nobody", "--mode", "redeliver");

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(1));
            Assert.That(result.Error, Does.Contain("400"));
            Assert.That(result.Error, Does.Contain("target: Unknown target 'nobody'"));
        });
    }

    [Test]
    public async Task An_unknown_replay_is_reported_with_a_non_zero_exit()
    {
        var result = await RunAsync("replay", "pause", "no-such-replay");

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(1));
            Assert.That(result.Error, Does.Contain("404"));
        });
    }

    [Test]
    public async Task Token_prints_one_token_alone_that_carries_its_role_and_nothing_more()
    {
        var printed = await RunAsync("token", "--role", "reader", "--name", "alice", "--expires", "30m");
        var token = printed.Output.TrimEnd('\n');
        using var reader = TestTokens.Authorized(Stack.CreateClient(), token);
        using var list = await reader.GetAsync(new Uri("/api/replays", UriKind.Relative));
        using var start = await reader.PostAsync(new Uri("/api/replays/dry-run", UriKind.Relative),
            new StringContent("""{"target":"balances","mode":"redeliver"}""", System.Text.Encoding.UTF8, "application/json"));
        var refused = await RunAsync("replay", "start", "--target", "balances", "--mode", "redeliver", "--dry-run", "--token", token);
        var wrongRole = await RunAsync("token", "--role", "admin", "--name", "alice");

        Assert.Multiple(() =>
        {
            Assert.That(printed.ExitCode, Is.Zero, printed.Error);
            Assert.That(printed.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries), Has.Length.EqualTo(1), "one line, nothing else");
            Assert.That(token.Split('.'), Has.Length.EqualTo(3), "a JWT");
            Assert.That(list.StatusCode, Is.EqualTo(System.Net.HttpStatusCode.OK), "a reader reads replays");
            Assert.That(start.StatusCode, Is.EqualTo(System.Net.HttpStatusCode.Forbidden), "a reader does not start them");
            Assert.That(refused.ExitCode, Is.EqualTo(1));
            Assert.That(refused.Error, Does.Contain("403"), "the CLI sends the token it is given");
            Assert.That(wrongRole.ExitCode, Is.Not.Zero, "no role but reader, writer and operator");
            Assert.That(wrongRole.Error, Does.Contain("admin"), "the refusal names what was wrong");
            Assert.That(wrongRole.Output.Split('\n').Where(line => line.Count(c => c == '.') == 2 && !line.Contains(' ', StringComparison.Ordinal)),
                Is.Empty, "no token printed");
        });
    }

    private async Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet", [TestEnvironment.ServiceAssembly("EventReplay.Cli"), "--api", Stack.LoadBalancer.BaseAddress.ToString(), .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["NO_COLOR"] = "1";
        start.Environment["COLUMNS"] = "250";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(ReplayApi.Finish);
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }
}
