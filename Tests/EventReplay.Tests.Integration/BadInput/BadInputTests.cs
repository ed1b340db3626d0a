using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using EventReplay.Contracts;
using EventReplay.Tests.Integration.Infrastructure;
using Npgsql;

namespace EventReplay.Tests.Integration.BadInput;

// The phases (HTTP, raw, AMQP, the checks afterwards) run one after another with [Order]: a raw case may append while
// HTTP cases compare the log's head, and the checks must come last. [DependsOnTest], which NUnit 5 offers instead,
// would also run every earlier phase when a filter selects one case, and skip a phase after one failed case.
#pragma warning disable CS0618

/// <summary>
/// The bad-input corpus (http.cases, raw.cases, amqp.cases in this folder) run against one whole system through its
/// public path (HAProxy → gateways → services) and its replay command queue. Every case gets no 5xx, a status it
/// expects that the README documents for its route, a problem body (except the plain refusals of the web server the
/// README names), and changes nothing when it is refused. Afterwards every service is ready, none restarted, and none
/// logged an unhandled exception.
/// </summary>
public class BadInputTests : StackOverEmptyLog
{
    private static readonly string[] UnhandledMarkers =
        ["An unhandled exception has occurred", "Unhandled exception.", " crit: "];

    // Per phase (HTTP, raw, AMQP): how many cases ran, and from the first one's start to the last one's end.
    private static readonly ConcurrentDictionary<string, Stopwatch> Phases = new();
    private static readonly ConcurrentDictionary<string, TimeSpan> PhaseEnds = new();
    private static readonly ConcurrentDictionary<string, int> Counts = new();

    private readonly Dictionary<ServiceProcess, (int? Pid, int LogLength)> _processes = [];
    private HttpClient _client = null!;
    private Dictionary<string, string> _values = null!;
    private Lazy<Task<Dictionary<RawCase, Task<(string Account, RawAnswer Answer)>>>> _raw = null!;

    public static IEnumerable<TestCaseData> HttpCases() => HttpCase.All.Select(c => new TestCaseData(c).SetName(c.Name));

    public static IEnumerable<TestCaseData> RawCases() => RawCase.All.Select(c => new TestCaseData(c).SetName(c.Name));

    public static IEnumerable<TestCaseData> AmqpCases() => AmqpCase.All.Select(c => new TestCaseData(c).SetName(c.Name));

    [OneTimeSetUp]
    public async Task PrepareTheAccountsAndAReplay()
    {
        _client = TestTokens.Authorized(new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = false,
            // Header values go out byte for byte (the corpus writes non-ASCII and invalid UTF-8 on purpose).
            RequestHeaderEncodingSelector = (_, _) => Encoding.Latin1,
        })
        { Timeout = TimeSpan.FromSeconds(30) });

        var open = ProducerApi.NewAccountId();
        var poor = ProducerApi.NewAccountId();
        var closed = ProducerApi.NewAccountId();
        await Api.OpenedAsync(open);
        await Api.OpenedAsync(poor);
        using (var deposit = await Api.DepositAsync(open, "100")) { await ProducerApi.BodyAsync(deposit, 200); }
        await Api.OpenedAsync(closed);
        using (var close = await Api.CloseAsync(closed)) { await ProducerApi.BodyAsync(close, 200); }
        var replay = await ReplayApi.StartAsync(Api, """{"target":"statistics","mode":"redeliver","fromPosition":999999999}""");
        await ReplayApi.WaitForEndAsync(Api, replay);
        _values = new Dictionary<string, string> { ["open"] = open, ["poor"] = poor, ["closed"] = closed, ["replay"] = replay };
        _raw = new(StartRawCasesAsync);

        foreach (var process in Stack.Gateways.Append(Stack.Producer).Append(Stack.Balances).Append(Stack.Statistics).Append(Stack.Replay))
        {
            _processes[process] = (process.ProcessId, process.ReadLog().Length);
        }
    }

    [OneTimeTearDown]
    public void ReportCounts()
    {
        _client.Dispose();
        var ran = string.Join(", ", Counts.OrderBy(c => c.Key).Select(c =>
            $"{c.Value} {c.Key} cases in {PhaseEnds.GetValueOrDefault(c.Key).TotalSeconds:0.0} s"));
        TestContext.Progress.WriteLine($"Bad-input corpus: {Counts.Values.Sum()} cases ran ({ran}).");
    }

    [Order(1)]
    [TestCaseSource(nameof(HttpCases))]
    public async Task Http(HttpCase @case)
    {
        using var phase = Phase("HTTP");
        var values = new Dictionary<string, string>(_values) { ["new"] = $"bi-{Guid.NewGuid():N}"[..19] };
        var account = new[] { "open", "poor", "closed", "new" }.FirstOrDefault(name => @case.Path.Contains($"{{{name}}}", StringComparison.Ordinal)
            || @case.Body?.Contains($"{{{name}}}", StringComparison.Ordinal) == true) is { } placeholder ? values[placeholder] : null;
        var before = await StateAsync(account);

        using var request = @case.ToRequest(Stack.LoadBalancer.BaseAddress, values);
        using var response = await _client.SendAsync(request);
        var body = await response.Content.ReadAsByteArrayAsync();

        var status = (int)response.StatusCode;
        var answer = HttpRules.Describe(response, body);
        Assert.Multiple(async () =>
        {
            Assert.That(status, Is.LessThan(500), answer);
            Assert.That(@case.Expected, Does.Contain(status), answer);
            Assert.That(HttpCase.Rules.DocumentedFor(@case.Route), Does.Contain(status), $"a status the README documents for {@case.Route}: {answer}");
            if (status >= 400 && !(@case.Plain && HttpCase.Rules.PlainStatuses.Contains(status)))
            {
                AssertProblem(status, response.Content.Headers.ContentType, request.Method == HttpMethod.Head ? null : body, answer);
            }

            if (status is < 200 or >= 300)
            {
                Assert.That(await StateAsync(account), Is.EqualTo(before), "a refused request changes nothing (log head, account stream, replays)");
            }
        });
    }

    [Order(2)]
    [TestCaseSource(nameof(RawCases))]
    public async Task Raw(RawCase @case)
    {
        using var phase = Phase("raw");
        // Every raw case runs at once, each on an account of its own: the slow senders take seconds, together.
        var (account, answer) = await (await _raw.Value)[@case];

        var (method, target) = @case.RequestLine;
        var route = GatewayRoutes.Configured.Match(method, target);
        Assert.Multiple(async () =>
        {
            Assert.That(answer.Elapsed, Is.LessThan(TimeSpan.FromSeconds(15)), answer.ToString());
            if (answer.Status is not { } status)
            {
                Assert.That(@case.MayClose, Is.True, $"an answer was expected: {answer}");
            }
            else
            {
                Assert.That(status, Is.LessThan(500), answer.ToString());
                Assert.That(@case.Expected, Does.Contain(status), answer.ToString());
                if (!(@case.Plain && HttpCase.Rules.PlainStatuses.Contains(status)))
                {
                    Assert.That(HttpCase.Rules.DocumentedFor(route), Does.Contain(status), $"a status the README documents for {route}: {answer}");
                    if (status >= 400)
                    {
                        AssertProblem(status, MediaTypeHeaderValue.TryParse(answer.ContentType, out var type) ? type : null, answer.Body, answer.ToString());
                    }
                }
            }

            if (answer.Status is not (>= 200 and < 300))
            {
                Assert.That(await StreamLengthAsync(account), Is.EqualTo(1), "a refused request appends nothing to its account");
            }
        });
    }

    [Order(3)]
    [TestCaseSource(nameof(AmqpCases))]
    public async Task Amqp(AmqpCase @case)
    {
        using var phase = Phase("AMQP");
        var values = new Dictionary<string, string>(_values) { ["id"] = $"bi-{Guid.NewGuid():N}"[..19] };
        var before = await ReplaysAsync();
        var messageId = Guid.NewGuid();

        await @case.PublishAsync(messageId, values);

        var outcome = await Eventually.Until(() => MessageOutcomeAsync(messageId), outcome => outcome is not null, TimeSpan.FromSeconds(30),
            $"the replay service to handle or set aside message {messageId}");
        // A failed replay is recorded with the message; a started one is given time to end.
        var recorded = @case.Expected is AmqpCase.Failed or AmqpCase.Completed;
        var after = recorded && outcome == "handled"
            ? await Eventually.Until(ReplaysAsync,
                replays => replays.Any(replay => !before.ContainsKey(replay.Key) && replay.Value.Split('/')[0] is "completed" or "failed"),
                TimeSpan.FromSeconds(30), "the replay to be recorded and to end")
            : await ReplaysAsync();
        var added = after.Where(replay => !before.ContainsKey(replay.Key)).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(outcome, Is.EqualTo(@case.Expected == AmqpCase.Dead ? AmqpCase.Dead : "handled"), "what became of the message");
            Assert.That(before.Keys.Where(id => !after.ContainsKey(id)), Is.Empty, "the other replays are still there");
            switch (@case.Expected)
            {
                case AmqpCase.Failed:
                    Assert.That(added.Select(replay => replay.Value), Is.EqualTo(new[] { "failed/0" }), "one replay recorded as failed, nothing sent");
                    break;
                case AmqpCase.Completed:
                    Assert.That(added.Select(replay => replay.Value.Split('/')[0]), Is.EqualTo(new[] { "completed" }), "one replay, completed");
                    break;
                default:
                    Assert.That(added, Is.Empty, "no replay started");
                    break;
            }
        });
    }

    [Test]
    [Order(4)]
    public async Task After_the_corpus_a_valid_command_on_the_same_queue_still_starts_a_replay()
    {
        var id = $"bi-after-{Guid.NewGuid():N}"[..24];
        await Broker.SendAsync(Topology.ReplayCommandsQueue,
            $$"""{"replayId":"{{id}}","target":"balances","mode":"redeliver","fromPosition":1}""", type: "StartReplay");

        var replay = await ReplayApi.WaitForEndAsync(Api, id);

        Assert.That(replay.GetProperty("status").GetString(), Is.EqualTo("completed"), replay.ToString());
    }

    [Test]
    [Order(5)]
    public async Task After_the_corpus_every_service_is_ready_none_restarted_and_none_logged_an_unhandled_exception()
    {
        using var viaGateway = await Api.Http.GetAsync(new Uri("/health/ready", UriKind.Relative));
        var direct = new Dictionary<string, int>();
        foreach (var process in _processes.Keys)
        {
            using var client = process.CreateClient();
            using var ready = await client.GetAsync(new Uri("/health/ready", UriKind.Relative));
            direct[$"{Path.GetFileName(process.LogPath)}"] = (int)ready.StatusCode;
        }

        Assert.Multiple(() =>
        {
            Assert.That((int)viaGateway.StatusCode, Is.EqualTo(200), "/health/ready through the load balancer");
            Assert.That(direct, Has.All.Property("Value").EqualTo(200), "/health/ready of each process");
            foreach (var (process, (pid, logLength)) in _processes)
            {
                var name = Path.GetFileName(process.LogPath);
                Assert.That((process.Restarts, process.ProcessId), Is.EqualTo((0, pid)), $"{name} has not restarted");
                var written = process.ReadLog()[logLength..];
                var unhandled = written.Split('\n').Where(line => UnhandledMarkers.Any(marker => line.Contains(marker, StringComparison.Ordinal)))
                    .Select(line => CorpusLine.Printable(line, 400)).ToList();
                Assert.That(unhandled, Is.Empty, $"{name} logged unhandled exceptions during the corpus");
            }
        });
    }

    /// <summary>Counts a case of the phase; its end, when disposed, is the phase's end so far.</summary>
    private static PhaseCase Phase(string phase)
    {
        var clock = Phases.GetOrAdd(phase, _ => Stopwatch.StartNew());
        Counts.AddOrUpdate(phase, 1, (_, count) => count + 1);
        return new PhaseCase(phase, clock);
    }

    private readonly record struct PhaseCase(string Phase, Stopwatch Clock) : IDisposable
    {
        public void Dispose()
        {
            var elapsed = Clock.Elapsed;
            PhaseEnds.AddOrUpdate(Phase, elapsed, (_, end) => end > elapsed ? end : elapsed);
        }
    }

    private static void AssertProblem(int status, MediaTypeHeaderValue? contentType, byte[]? body, string answer)
    {
        Assert.That(HttpRules.IsProblem(contentType), Is.True, $"a problem+json body: {answer}");
        if (body is null || !HttpRules.IsProblem(contentType))
        {
            return;
        }

        try
        {
            using var problem = JsonDocument.Parse(body);
            Assert.That(problem.RootElement.TryGetProperty("status", out var given) && given.TryGetInt32(out var number) ? number : 0,
                Is.EqualTo(status), $"the problem's status: {answer}");
            Assert.That(problem.RootElement.TryGetProperty("title", out var title) ? title.GetString() : null, Is.Not.Empty,
                $"the problem's title: {answer}");
        }
        catch (JsonException exception)
        {
            Assert.Fail($"the problem body is not JSON ({exception.Message}): {answer}");
        }
    }

    /// <summary>Opens an account for every raw case, then starts them all at once.</summary>
    private async Task<Dictionary<RawCase, Task<(string, RawAnswer)>>> StartRawCasesAsync()
    {
        var accounts = new Dictionary<RawCase, string>();
        foreach (var @case in RawCase.All)
        {
            accounts[@case] = ProducerApi.NewAccountId();
            await Api.OpenedAsync(accounts[@case]);
        }

        return RawCase.All.ToDictionary(@case => @case, async @case =>
        {
            var values = new Dictionary<string, string>(_values) { ["own"] = accounts[@case] };
            return (accounts[@case], await Task.Run(() => @case.RunAsync(Stack.LoadBalancer.Port, values)));
        });
    }

    /// <summary>The log's head, the account's number of events, and the replays' ids (replays started earlier move on meanwhile).</summary>
    private static async Task<(long Head, long Account, string Replays)> StateAsync(string? account)
    {
        await using var connection = new NpgsqlConnection(EventStore);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            """
            select (select coalesce(max(seq_id), 0) from producer.mt_events where type <> 'tombstone'),
                   (select count(*) from producer.mt_events where stream_id = @account)
            """, connection);
        command.Parameters.AddWithValue("account", account ?? "");
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        var (head, events) = (reader.GetInt64(0), reader.GetInt64(1));
        await using var sagas = new NpgsqlConnection(ReadModels);
        await sagas.OpenAsync();
        await using var replays = new NpgsqlCommand("select coalesce(string_agg(id, ',' order by id), '') from replay.mt_doc_replay", sagas);
        return (head, events, (string)(await replays.ExecuteScalarAsync())!);
    }

    private static Task<long> StreamLengthAsync(string account) =>
        Database.ScalarAsync(EventStore, "select count(*) from producer.mt_events where stream_id = @account", ("account", account));

    /// <summary>Every replay: id → "status/eventsSent".</summary>
    private static async Task<Dictionary<string, string>> ReplaysAsync()
    {
        await using var connection = new NpgsqlConnection(ReadModels);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "select id, (data->>'status') || '/' || (data->>'eventsSent') from replay.mt_doc_replay", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var replays = new Dictionary<string, string>();
        while (await reader.ReadAsync())
        {
            replays[reader.GetString(0)] = reader.GetString(1);
        }

        return replays;
    }

    /// <summary>
    /// "dead" once the replay service set the message aside (in its dead-letter table, or already moved from there into
    /// the monitor's failed messages), "handled" once it handled it, else null.
    /// </summary>
    private static async Task<string?> MessageOutcomeAsync(Guid messageId)
    {
        var id = ("id", (object)messageId);
        if (await Database.ScalarAsync(ReadModels, "select count(*) from replay.wolverine_dead_letters where id = @id", id) > 0
            || await Database.ScalarAsync(ReadModels,
                "select count(*) from monitor.failed_message_collected where source_key = 'wolverine:' || @id::text", id) > 0)
        {
            return AmqpCase.Dead;
        }

        return await Database.ScalarAsync(ReadModels,
            "select count(*) from replay.wolverine_incoming_envelopes where id = @id and status = 'Handled'", id) > 0
            ? "handled"
            : null;
    }
}
