using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using EventReplay.Contracts;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Monitoring;

/// <summary>
/// The monitor's webhooks against the whole system: one webhook that answers, one whose port refuses connections and one
/// that never answers. The answering one hears of failed messages (grouped: three of a kind make two notices), a failed
/// replay, and a consumer killed (missing) and started again (back), each within seconds, the two broken webhooks
/// notwithstanding.
/// </summary>
[NonParallelizable]
public class AlertTests
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan Window = TimeSpan.FromSeconds(5);

    private readonly ConcurrentQueue<(TimeSpan At, JsonElement Notice)> _notices = new();

    private readonly Stopwatch _clock = Stopwatch.StartNew();

    private HttpListener _receiver = null!;

    private TcpListener _silent = null!;

    private ServiceStack _stack = null!;

    [OneTimeSetUp]
    public async Task StartTheSystemWithWebhooks()
    {
        var port = TestEnvironment.FreePort();
        _receiver = new HttpListener();
        _receiver.Prefixes.Add($"http://127.0.0.1:{port}/hook/");
        _receiver.Start();
        _ = Task.Run(ReceiveAsync);
        // Accepts connections and never answers.
        _silent = new TcpListener(IPAddress.Loopback, 0);
        _silent.Start();
        var refused = TestEnvironment.FreePort();

        await PipelineState.ResetWithEmptyLogAsync(TestEnvironment.Databases, TestEnvironment.RedisConnectionString);
        _stack = await ServiceStack.StartedAsync(services: new Dictionary<string, IReadOnlyDictionary<string, string>>
        {
            ["EventReplay.Monitor"] = new Dictionary<string, string>
            {
                ["Monitoring__Webhooks__0__Url"] = $"http://127.0.0.1:{((IPEndPoint)_silent.LocalEndpoint).Port}/never-answers",
                ["Monitoring__Webhooks__1__Url"] = $"http://127.0.0.1:{refused}/refused",
                ["Monitoring__Webhooks__2__Url"] = $"http://127.0.0.1:{port}/hook/",
                ["Monitoring__FailedMessageWindow"] = Window.ToString(),
            },
        });
    }

    private async Task ReceiveAsync()
    {
        while (_receiver.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _receiver.GetContextAsync();
            }
            catch (Exception exception) when (exception is HttpListenerException or ObjectDisposedException)
            {
                return;
            }

            using (var reader = new StreamReader(context.Request.InputStream))
            {
                _notices.Enqueue((_clock.Elapsed, JsonDocument.Parse(await reader.ReadToEndAsync()).RootElement.Clone()));
            }

            context.Response.StatusCode = 204;
            context.Response.Close();
        }
    }

    [OneTimeTearDown]
    public async Task StopEverything()
    {
        await _stack.DisposeAsync();
        _receiver.Close();
        _silent.Dispose();
    }

    [Test]
    public async Task Failed_messages_of_one_group_are_told_once_per_window_with_their_count()
    {
        var type = $"AlertTest{Guid.NewGuid():N}";
        var sent = _clock.Elapsed;
        foreach (var n in new[] { 1, 2, 3 })
        {
            await Broker.SendAsync(Topology.LiveQueue("statistics"), $"{{\"n\":{n}}}", type);
        }

        var told = await Eventually.Until(() => Task.FromResult(Of("failed-messages", d => d.GetProperty("messageType").GetString() == type)),
            notices => notices.Sum(n => n.Notice.GetProperty("details").GetProperty("count").GetInt32()) == 3, Settle + Window,
            "notices of the three failed messages");
        await TestContext.Out.WriteLineAsync("notices: " + string.Join("; ", told.Select(n =>
            $"+{(n.At - sent).TotalSeconds:0.0} s count {n.Notice.GetProperty("details").GetProperty("count").GetInt32()}")));
        Assert.Multiple(() =>
        {
            Assert.That(told.Select(n => n.Notice.GetProperty("details").GetProperty("count").GetInt32()), Is.EqualTo(new[] { 1, 2 }),
                "the first at once, the other two together once the window ended");
            Assert.That(told[0].At - sent, Is.LessThan(TimeSpan.FromSeconds(10)), "the first notice, whatever the broken webhooks do");
            Assert.That(told[1].At - told[0].At, Is.GreaterThanOrEqualTo(Window - TimeSpan.FromSeconds(1)), "not two notices in one window");
            Assert.That(told[0].Notice.GetProperty("summary").GetString(), Does.Contain("statistics.live"));
        });
    }

    [Test]
    public async Task A_failed_replay_is_told()
    {
        var id = $"alert-{Guid.NewGuid():N}";
        await Broker.SendAsync(Topology.ReplayCommandsQueue, $$"""{"replayId":"{{id}}","target":"no-such-consumer","mode":"redeliver"}""",
            type: "StartReplay");
        var told = await Eventually.Until(() => Task.FromResult(Of("replay.failed", d => d.GetProperty("replayId").GetString() == id)),
            notices => notices.Count > 0, Settle, "the failed replay's notice");
        Assert.That(told.Single().Notice.GetProperty("details").GetProperty("error").GetString(), Does.Contain("no-such-consumer").Or.Contain("target"));
    }

    [Test]
    public async Task A_killed_consumer_is_told_missing_and_back_once_it_runs_again()
    {
        var pid = _stack.Statistics.ProcessId!.Value;
        await Signals.SendAsync(pid, "KILL");
        var missing = await Eventually.Until(() => Task.FromResult(Of("endpoint.missing", d => d.GetProperty("pid").GetInt32() == pid)),
            notices => notices.Count > 0, Settle, "the killed consumer's missing notice");
        var instance = missing.Single().Notice.GetProperty("details").GetProperty("instanceId").GetString();
        var back = await Eventually.Until(() => Task.FromResult(Of("endpoint.back", d => d.GetProperty("replaces").GetString() == instance)),
            notices => notices.Count > 0, Settle, "the consumer's back notice");
        var details = back.Single().Notice.GetProperty("details");
        Assert.Multiple(() =>
        {
            Assert.That(details.GetProperty("endpoint").GetString(), Is.EqualTo("statistics"));
            Assert.That(details.GetProperty("pid").GetInt32(), Is.EqualTo(_stack.Statistics.ProcessId), "the instance running now");
            Assert.That(missing.Single().Notice.GetProperty("details").GetProperty("endpoint").GetString(), Is.EqualTo("statistics"));
        });
    }

    private List<(TimeSpan At, JsonElement Notice)> Of(string kind, Func<JsonElement, bool> about) =>
        [.. _notices.Where(n => n.Notice.GetProperty("kind").GetString() == kind && about(n.Notice.GetProperty("details")))];
}
