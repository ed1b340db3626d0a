using System.Text;
using System.Text.Json;
using EventReplay.Contracts;
using EventReplay.Contracts.Replays;
using EventReplay.Replay.Replays;

namespace EventReplay.Tests.Unit.Replays;

/// <summary>The replay service writes batches by hand; consumers read them with the serializer.</summary>
public class ReplayBatchJsonTests
{
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    [Test]
    public void A_written_batch_reads_back_as_the_batch_the_serializer_would_have_written()
    {
        var timestamp = new DateTimeOffset(2026, 11, 27, 7, 30, 1, 123, TimeSpan.Zero).AddTicks(4567);
        LoggedEvent[] events =
        [
            new(41, "acc-\"1\"", 1, "AccountOpened", timestamp, Encoding.UTF8.GetBytes("""{"owner": "Zoë \"Z\" <z@example.com>"}""")),
            new(42, "acc-\"1\"", 2, "FundsDeposited", timestamp.AddMinutes(1), """{"amount": 12.50}"""u8.ToArray()),
        ];

        using var json = ReplayBatchJson.Write("r-1", 7, ReplayModes.Rebuild, events);
        var written = JsonSerializer.Deserialize<ReplayBatch>(json.WrittenSpan, Web)!;
        var expected = new ReplayBatch("r-1", 7, ReplayModes.Rebuild,
            [.. events.Select(e => new RecordedEvent(e.Position, e.StreamId, e.Version, e.Type, e.Timestamp, JsonElement.Parse(e.Data)))]);
        var serialized = JsonSerializer.Deserialize<ReplayBatch>(JsonSerializer.SerializeToUtf8Bytes(expected, Web), Web)!;

        Assert.Multiple(() =>
        {
            Assert.That((written.ReplayId, written.Sequence, written.Mode), Is.EqualTo((serialized.ReplayId, serialized.Sequence, serialized.Mode)));
            Assert.That(written.Events, Has.Count.EqualTo(2));
            for (var i = 0; i < events.Length; i++)
            {
                var (ours, theirs) = (written.Events[i], serialized.Events[i]);
                Assert.That((ours.Position, ours.StreamId, ours.Version, ours.Type, ours.Timestamp),
                    Is.EqualTo((theirs.Position, theirs.StreamId, theirs.Version, theirs.Type, theirs.Timestamp)));
                Assert.That(JsonElement.DeepEquals(ours.Data, theirs.Data), Is.True, $"data of event {i}");
            }
        });
    }
}
