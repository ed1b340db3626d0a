using System.Text;
using System.Text.Json;
using EventReplay.Contracts;
using EventReplay.Contracts.Replays;
using EventReplay.Replay.Replays;

namespace EventReplay.Tests.Unit.Replays;

/// <summary>The replay service writes batches by hand; consumers read them with the serializer.</summary>
public class ReplayBatchWriterTests
{
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    [Test]
    public void A_written_batch_reads_back_as_the_batch_the_serializer_would_have_written()
    {
        var timestamp = new DateTimeOffset(2026, 11, 27, 7, 30, 1, 123, TimeSpan.Zero).AddTicks(4567);
        RecordedEvent[] events =
        [
            new(41, "acc-\"1\"", 1, "AccountOpened", timestamp, JsonElement.Parse("""{"owner": "Zoë \"Z\" <z@example.com>"}""")),
            new(42, "acc-\"1\"", 2, "FundsDeposited", timestamp.AddMinutes(1), JsonElement.Parse("""{"amount": 12.50}""")),
        ];

        using var batch = new ReplayBatchWriter("r-1", 7, ReplayModes.Rebuild, expectedEvents: 1); // the buffer has to grow
        foreach (var e in events)
        {
            batch.Add(e.Position, Encoding.UTF8.GetBytes(e.StreamId), e.Version, Encoding.UTF8.GetBytes(e.Type), e.Timestamp,
                Encoding.UTF8.GetBytes(e.Data.GetRawText()));
        }

        var written = JsonSerializer.Deserialize<ReplayBatch>(batch.Finish().Span, Web)!;
        var expected = new ReplayBatch("r-1", 7, ReplayModes.Rebuild, events);
        var serialized = JsonSerializer.Deserialize<ReplayBatch>(JsonSerializer.SerializeToUtf8Bytes(expected, Web), Web)!;

        Assert.Multiple(() =>
        {
            Assert.That((written.ReplayId, written.Sequence, written.Mode), Is.EqualTo((serialized.ReplayId, serialized.Sequence, serialized.Mode)));
            Assert.That(written.Events, Has.Count.EqualTo(2));
            Assert.That((batch.Sequence, batch.Count, batch.LastPosition), Is.EqualTo((7, 2, 42L)), "what the saga records as sent");
            for (var i = 0; i < events.Length; i++)
            {
                var (ours, theirs) = (written.Events[i], serialized.Events[i]);
                Assert.That((ours.Position, ours.StreamId, ours.Version, ours.Type, ours.Timestamp),
                    Is.EqualTo((theirs.Position, theirs.StreamId, theirs.Version, theirs.Type, theirs.Timestamp)));
                Assert.That(JsonElement.DeepEquals(ours.Data, theirs.Data), Is.True, $"data of event {i}");
            }
        });
    }

    [Test]
    public void A_finished_batch_takes_no_more_events()
    {
        using var batch = new ReplayBatchWriter("r-1", 1, ReplayModes.Redeliver, expectedEvents: 500);
        batch.Add(1, "acc-1"u8, 1, "AccountOpened"u8, DateTimeOffset.UnixEpoch, """{"owner":"A"}"""u8);
        var json = batch.Finish().ToArray();

        Assert.Multiple(() =>
        {
            Assert.That(() => batch.Add(2, "acc-1"u8, 2, "FundsDeposited"u8, DateTimeOffset.UnixEpoch, """{"amount":1}"""u8),
                Throws.InvalidOperationException);
            Assert.That(batch.Finish().ToArray(), Is.EqualTo(json), "finishing again gives the same JSON");
        });
    }
}
