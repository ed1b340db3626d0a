using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json;
using System.Threading.Channels;
using EventReplay.Monitor.FailedMessages;
using Microsoft.Extensions.Options;

namespace EventReplay.Monitor.Alerts;

/// <summary>One webhook: where notices are POSTed as JSON.</summary>
public sealed class WebhookOptions
{
    public string? Url { get; set; }
}

/// <summary><c>Monitoring</c>: the webhooks (<c>Monitoring__Webhooks__0__Url</c>, …) and how notices are paced.</summary>
public sealed class AlertOptions
{
    public List<WebhookOptions> Webhooks { get; set; } = [];

    /// <summary>At most one notice per group of failed messages in this window; the rest are counted into the next.</summary>
    public TimeSpan FailedMessageWindow { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Notices waiting for one webhook; past this, new ones are dropped (with a log).</summary>
    public int QueueCapacity { get; set; } = 1000;

    /// <summary>How long one POST may take.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Attempts per notice (with 0.5, 1, 2 … s between them) before it is dropped with a log.</summary>
    public int Attempts { get; set; } = 3;
}

/// <summary>
/// A notice to the webhooks: <c>kind</c> (<c>endpoint.missing</c>, <c>endpoint.back</c>, <c>failed-messages</c>,
/// <c>replay.failed</c>), when, a one-line summary, and what it is about.
/// </summary>
public sealed record Alert(string Kind, DateTimeOffset At, string Summary, object Details);

/// <summary>
/// Sends notices to every configured webhook, each through a bounded queue of its own: a webhook that is down or slow
/// delays only its own notices (each POST has a timeout and a few attempts, then the notice is dropped with a log), and
/// never the monitor, which only ever enqueues. Failed messages are paced: the first of a group is told at once, those
/// that follow within <see cref="AlertOptions.FailedMessageWindow"/> are counted and told together when it ends.
/// </summary>
public sealed partial class AlertNotifier(IOptions<AlertOptions> options, IHttpClientFactory http, TimeProvider clock,
    ILogger<AlertNotifier> logger) : BackgroundService
{
    public const string HttpClientName = "webhooks";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly List<(string Url, Channel<Alert> Queue)> _webhooks = [.. options.Value.Webhooks
        .Where(webhook => Uri.TryCreate(webhook.Url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
        .Select(webhook => (webhook.Url!, Channel.CreateBounded<Alert>(new BoundedChannelOptions(options.Value.QueueCapacity)
        {
            FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true,
        })))];

    // Per group of failed messages: when it was last told, and how many arrived since.
    private readonly ConcurrentDictionary<string, (DateTimeOffset Told, int Since, FailureGroupSummary? Group)> _groups = new();

    public bool Enabled => _webhooks.Count > 0;

    /// <summary>Enqueues a notice for every webhook (never waits).</summary>
    public void Notify(Alert alert)
    {
        foreach (var (url, queue) in _webhooks)
        {
            if (!queue.Writer.TryWrite(alert))
            {
                LogDropped(url, alert.Kind, "its queue is full");
            }
        }
    }

    /// <summary>A failed message arrived: told at once if its group was quiet for a window, else counted into the next notice.</summary>
    public void FailedMessage(CollectedFailure failure)
    {
        if (!Enabled)
        {
            return;
        }

        var shape = failure.Shape;
        var reasonClass = FailureGroup.ReasonClass(failure.Reason);
        var groupId = FailureGroup.Id(failure.Queue, reasonClass, shape.MessageType);
        var now = clock.GetUtcNow();
        var group = new FailureGroupSummary(groupId, failure.Queue, reasonClass, shape.MessageType, 0, 0, 0, 0, now, now);
        var tellNow = false;
        _groups.AddOrUpdate(groupId,
            _ =>
            {
                tellNow = true;
                return (now, 0, group);
            },
            (_, state) =>
            {
                if (now - state.Told >= options.Value.FailedMessageWindow && state.Since == 0)
                {
                    tellNow = true;
                    return (now, 0, group);
                }

                return (state.Told, state.Since + 1, group);
            });
        if (tellNow)
        {
            Notify(FailedMessagesAlert(group, 1, failure.Reason, now));
        }
    }

    private static Alert FailedMessagesAlert(FailureGroupSummary group, int count, string? reason, DateTimeOffset now) =>
        new("failed-messages", now, $"{count} message(s) set aside for {group.Queue}: {reason ?? group.ReasonClass}",
            new { group.GroupId, group.Queue, group.ReasonClass, group.MessageType, count });

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!Enabled)
        {
            return;
        }

        LogWebhooks(string.Join(", ", _webhooks.Select(webhook => webhook.Url)));
        var senders = _webhooks.Select(webhook => SendAllAsync(webhook.Url, webhook.Queue, stoppingToken)).ToList();
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), clock);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            FlushGroups();
        }

        await Task.WhenAll(senders);
    }

    /// <summary>Tells the groups whose window ended with failures counted in it.</summary>
    private void FlushGroups()
    {
        var now = clock.GetUtcNow();
        foreach (var (groupId, state) in _groups)
        {
            if (state.Since > 0 && now - state.Told >= options.Value.FailedMessageWindow
                && _groups.TryUpdate(groupId, (now, 0, state.Group), state))
            {
                Notify(FailedMessagesAlert(state.Group!, state.Since, null, now));
            }
        }
    }

    private async Task SendAllAsync(string url, Channel<Alert> queue, CancellationToken stoppingToken)
    {
        var client = http.CreateClient(HttpClientName);
        await foreach (var alert in queue.Reader.ReadAllAsync(stoppingToken))
        {
            var delay = TimeSpan.FromMilliseconds(500);
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                    timeout.CancelAfter(options.Value.Timeout);
                    using var response = await client.PostAsJsonAsync(url, alert, Json, timeout.Token);
                    response.EnsureSuccessStatusCode();
                    break;
                }
                catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
                {
                    if (attempt >= options.Value.Attempts)
                    {
                        LogDropped(url, alert.Kind, $"{attempt} attempts failed, the last with {exception.GetType().Name}: {exception.Message}");
                        break;
                    }

                    await Task.Delay(delay, stoppingToken);
                    delay *= 2;
                }
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Notices go to the webhooks {Urls}")]
    private partial void LogWebhooks(string urls);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A {Kind} notice for {Url} was dropped: {Why}")]
    private partial void LogDropped(string url, string kind, string why);
}
