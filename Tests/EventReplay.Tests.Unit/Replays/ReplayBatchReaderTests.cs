using System.Text;
using System.Text.Json;
using EventReplay.Contracts;
using EventReplay.Contracts.Replays;

namespace EventReplay.Tests.Unit.Replays;

/// <summary>Consumers read replay batches by hand: what they read must be what the serializer reads, and the same refusals.</summary>
public class ReplayBatchReaderTests
{
    private static readonly JsonSerializerOptions Serializer = StrictJson.Options;

    private static readonly DateTimeOffset At = new DateTimeOffset(2026, 11, 27, 7, 30, 1, 123, TimeSpan.FromHours(1)).AddTicks(4567);

    [Test]
    public void A_batch_reads_as_the_serializer_reads_it()
    {
        var batch = new ReplayBatch("r-1", 7, ReplayModes.Rebuild,
        [
            new RecordedEvent(41, "acc-\"1\"", 1, "AccountOpened", At, JsonElement.Parse("""{"owner": "Zoë \"Z\" <z@example.com>"}""")),
            new RecordedEvent(42, "acc-\"1\"", 2, "FundsDeposited", At.AddMinutes(1), JsonElement.Parse("""{"amount": 12.50}""")),
        ]);

        AssertSame(JsonSerializer.SerializeToUtf8Bytes(batch, Serializer));
    }

    [TestCase("""{"REPLAYID":"r","Sequence":3,"MODE":"redeliver","Events":[{"POSITION":5,"streamid":"a","Version":1,"TYPE":"AccountOpened","TimeStamp":"2026-11-27T07:30:01Z","DATA":{"owner":"o"}}]}""")]
    [TestCase("""{"replayId":"r","sequence":3,"mode":"redeliver","extra":{"x":[1,2]},"events":[{"position":5,"streamId":"a","version":1,"type":"AccountOpened","timestamp":"2026-11-27T07:30:01Z","data":null,"more":1}]}""")]
    [TestCase("""{"replayId":"r","events":[{"position":5}]}""")]
    [TestCase("""{"replayId":"r","sequence":"3","events":[{"position":"5","version":"-1"}]}""")]
    [TestCase("""{"replayId":"r","events":[]}""")]
    [TestCase("""{"replayId":"r","events":null}""")]
    [TestCase("""{"replayId":"r"}""")]
    // Repeated stream ids and types, the same text escaped differently, and nulls after them.
    [TestCase("""{"replayId":"r","events":[{"position":1,"streamId":"acc-1","type":"FundsDeposited"},{"position":2,"streamId":"acc\u002d1","type":"Funds\u0044eposited"},{"position":3,"streamId":"acc-1","type":"FundsDeposited"},{"position":4,"streamId":"acc-2","type":"AccountClosed"},{"position":5,"streamId":null,"type":null},{"position":6,"streamId":"acc-2","type":"AccountClosed"}]}""")]
    public void Names_in_any_case_unknown_and_missing_properties_read_as_the_serializer_reads_them(string json) =>
        AssertSame(Encoding.UTF8.GetBytes(json));

    [TestCase("not json")]
    [TestCase("[1,2]")]
    [TestCase("""{"replayId":1}""")]
    [TestCase("""{"replayId":"r","sequence":"three"}""")]
    [TestCase("""{"replayId":"r","sequence":3000000000}""")]
    [TestCase("""{"replayId":"r","sequence":1.5}""")]
    [TestCase("""{"replayId":"r","events":{}}""")]
    [TestCase("""{"replayId":"r","events":[1]}""")]
    [TestCase("""{"replayId":"r","events":[{"position":"5.0"}]}""")]
    [TestCase("""{"replayId":"r","events":[{"timestamp":null}]}""")]
    [TestCase("""{"replayId":"r","events":[{"timestamp":"yesterday"}]}""")]
    [TestCase("""{"replayId":"r","events":[{"streamId":"a","type":"t"},{"streamId":1,"type":"t"}]}""")]
    [TestCase("""{"replayId":"r","events":[{"streamId":"a","type":"t"},{"streamId":"a","type":true}]}""")]
    [TestCase("""{"replayId":"r","replayId":"r","events":[]}""")]
    [TestCase("""{"replayId":"r","MODE":"a","mode":"b","events":[]}""")]
    [TestCase("""{"replayId":"r","events":[{"position":1,"Position":1}]}""")]
    [TestCase("""{"replayId":"r","events":[{"position":1,"data":{"a":[{"b":1,"b":1}]}}]}""")]
    public void What_the_serializer_refuses_is_refused(string json)
    {
        var body = Encoding.UTF8.GetBytes(json);
        Assert.Multiple(() =>
        {
            Assert.That(() => JsonSerializer.Deserialize<ReplayBatch>(body, Serializer), Throws.InstanceOf<JsonException>(), "the serializer");
            Assert.That(() => ReplayBatchReader.Read(body), Throws.InstanceOf<JsonException>(), "the reader");
        });
    }

    // A name given twice in one object: the batch's, an event's (in the same or another case, as the names are read
    // in any case), or anywhere inside an event's data or a property nobody reads.
    [TestCase("""{"replayId":"r","replayId":"s","events":[]}""", "replayId")]
    [TestCase("""{"replayId":"r","sequence":1,"Sequence":2,"events":[]}""", "Sequence")]
    [TestCase("""{"replayId":"r","events":[{"position":1,"version":1,"version":2}]}""", "version")]
    [TestCase("""{"replayId":"r","events":[{"position":1,"streamId":"a","STREAMID":"b"}]}""", "STREAMID")]
    [TestCase("""{"replayId":"r","events":[{"position":1,"data":{"amount":1,"amount":2}}]}""", "amount")]
    [TestCase("""{"replayId":"r","events":[{"position":1,"data":{"a":{"b":[{"amount":1,"\u0061mount":2}]}}}]}""", "amount")]
    [TestCase("""{"replayId":"r","extra":{"x":1,"x":2},"events":[]}""", "x")]
    public void A_property_named_twice_in_one_object_is_refused(string json, string name)
    {
        var body = Encoding.UTF8.GetBytes(json);

        Assert.That(() => ReplayBatchReader.Read(body), Throws.InstanceOf<JsonException>().With.Message.Contains($"'{name}'"));
    }

    // The reader looks for names given twice itself (cheaper than the parser's option): it must find what the parser finds.
    [TestCase("""{"by":1,"b\u0079":2}""")]
    [TestCase("""{"\u0062y":1,"b\u0079":2}""")]
    [TestCase("""{"\u0062y":1,"bz":2,"b":3}""")]
    [TestCase("""{"a":[1,[{"x":1}],[{"x":1,"y":{"x":1}}]],"b":{"c":{"d":[{"e":1,"e":2}]}}}""")]
    [TestCase("""{"a":[1,[{"x":1}],[{"x":1,"y":{"x":1}}]],"b":{"c":{"d":[{"e":1,"f":2}]}}}""")]
    [TestCase("""{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k17":17,"k3":18}""")]
    [TestCase("""{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k17":17,"k17":18}""")]
    [TestCase("""{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"K15":16}""")]
    [TestCase("""{"Amount":1,"amount":2}""")]
    public void A_name_given_twice_anywhere_in_data_or_unread_values_is_found_as_the_parser_finds_it(string json)
    {
        var parserRefuses = Refuses(() => JsonDocument.Parse(json, new JsonDocumentOptions { AllowDuplicateProperties = false }).Dispose());
        foreach (var batch in new[]
        {
            $$"""{"replayId":"r","events":[{"position":1,"data":{{json}}}]}""",
            $$"""{"replayId":"r","events":[{"position":1,"extra":{{json}}}]}""",
            $$"""{"replayId":"r","extra":[{{json}}],"events":[]}""",
        })
        {
            Assert.That(Refuses(() => ReplayBatchReader.Read(Encoding.UTF8.GetBytes(batch))), Is.EqualTo(parserRefuses), batch);
        }
    }

    [Test]
    public void The_same_names_in_different_objects_and_names_differing_in_more_than_case_are_read()
    {
        var body = Encoding.UTF8.GetBytes("""
            {"replayId":"r","sequence":1,"events":[
              {"position":1,"streamId":"a","data":{"accountId":"a","owner":"o","nested":{"accountId":"b"}}},
              {"position":2,"streamId":"a","data":{"accountId":"a","Account":"x","amount":1}}]}
            """);

        var batch = ReplayBatchReader.Read(body);

        Assert.That(batch.Events.Select(e => e.Position), Is.EqualTo(new[] { 1L, 2L }));
    }

    private static bool Refuses(Action read)
    {
        try
        {
            read();
            return false;
        }
        catch (JsonException)
        {
            return true;
        }
    }

    private static void AssertSame(byte[] body)
    {
        var theirs = JsonSerializer.Deserialize<ReplayBatch>(body, Serializer)!;
        var ours = ReplayBatchReader.Read(body);
        Assert.Multiple(() =>
        {
            Assert.That((ours.ReplayId, ours.Sequence, ours.Mode), Is.EqualTo((theirs.ReplayId, theirs.Sequence, theirs.Mode)));
            Assert.That(ours.Events?.Count, Is.EqualTo(theirs.Events?.Count));
            for (var i = 0; i < (theirs.Events?.Count ?? 0); i++)
            {
                var (mine, expected) = (ours.Events![i], theirs.Events![i]);
                Assert.That((mine.Position, mine.StreamId, mine.Version, mine.Type, mine.Timestamp),
                    Is.EqualTo((expected.Position, expected.StreamId, expected.Version, expected.Type, expected.Timestamp)));
                Assert.That(mine.Timestamp.Offset, Is.EqualTo(expected.Timestamp.Offset));
                Assert.That(mine.Data.ValueKind, Is.EqualTo(expected.Data.ValueKind), $"data of event {i}");
                if (expected.Data.ValueKind != JsonValueKind.Undefined)
                {
                    Assert.That(JsonElement.DeepEquals(mine.Data, expected.Data), Is.True, $"data of event {i}");
                }
            }
        });
    }
}
