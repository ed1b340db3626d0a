using System.Text;
using System.Text.Json;
using EventReplay.Contracts;
using EventReplay.EventLog;
using EventReplay.Messaging;

namespace EventReplay.Tests.Unit.Hosting;

/// <summary>The last applied event a read answer reports, and the store epoch an event message carries.</summary>
public class ReadFreshnessTests
{
    private static RecordedEvent Event(long position, DateTimeOffset storedAt) =>
        new(position, "acc-1", position, "FundsDeposited", storedAt, JsonDocument.Parse("{}").RootElement);

    [Test]
    public void The_last_applied_event_is_the_checkpoint_until_a_batch_applies_then_the_newest_event()
    {
        var last = new LastAppliedEvent();
        Assert.That(last.Current, Is.EqualTo(((long?)null, (DateTimeOffset?)null)), "nothing known before the start");

        last.Started(41);
        Assert.That(last.Current, Is.EqualTo(((long?)41, (DateTimeOffset?)null)), "the checkpoint, its time unknown");

        var stored = DateTimeOffset.Parse("2026-12-02T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture);
        last.Applied(Event(43, stored));
        last.Applied(Event(42, stored.AddSeconds(-1)));
        last.Started(7);
        Assert.That(last.Current, Is.EqualTo(((long?)43, (DateTimeOffset?)stored)), "an older batch or a later start never moves it back");
    }

    [Test]
    public void The_store_epoch_header_is_read_as_the_broker_delivers_it_or_not_at_all()
    {
        Assert.Multiple(() =>
        {
            Assert.That(EpochHeader.Of(new Dictionary<string, object?> { [StoreEpoch.Header] = Encoding.UTF8.GetBytes("e-1") }), Is.EqualTo("e-1"));
            Assert.That(EpochHeader.Of(new Dictionary<string, object?> { [StoreEpoch.Header] = "e-2" }), Is.EqualTo("e-2"));
            Assert.That(EpochHeader.Of(new Dictionary<string, object?> { [StoreEpoch.Header] = 42 }), Is.Null, "a value of another kind");
            Assert.That(EpochHeader.Of(new Dictionary<string, object?> { ["traceparent"] = "x" }), Is.Null, "published before epochs");
            Assert.That(EpochHeader.Of(null), Is.Null);
        });
    }
}
