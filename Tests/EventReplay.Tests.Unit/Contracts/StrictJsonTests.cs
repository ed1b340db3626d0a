using System.Text;
using System.Text.Json;
using EventReplay.Contracts;

namespace EventReplay.Tests.Unit.Contracts;

/// <summary>A property named twice in one object is found wherever it is, and named by its path.</summary>
public class StrictJsonTests
{
    [TestCase("""{"amount":1,"amount":2}""", "amount")]
    [TestCase("""{"amount":1,"Amount":2}""", "Amount")]
    [TestCase("""{"amount":1,"\u0061mount":2}""", "amount")]
    [TestCase("""{"a":1,"note":{"by":"x","by":"y"}}""", "note.by")]
    [TestCase("""{"notes":[{"by":"x"},{"by":"y","BY":"z"}]}""", "notes[1].BY")]
    [TestCase("""{"m":[[1,{"k":1}],[{"k":1,"k":2}]]}""", "m[1][0].k")]
    [TestCase("""[1,{"a":{}},{"a":1,"a":2}]""", "[2].a")]
    [TestCase("""{"a":{"b":1},"c":2,"a":3}""", "a")]
    public void The_first_name_given_twice_is_named_by_its_path(string json, string path) =>
        Assert.That(StrictJson.FirstDuplicate(Encoding.UTF8.GetBytes(json)), Is.EqualTo(path));

    [TestCase("""{"amount":1,"note":{"amount":2},"notes":[{"amount":3},{"amount":4}]}""")]
    [TestCase("""{"a":1,"ab":2,"b":"a"}""")]
    [TestCase("""[]""")]
    [TestCase("""42""")]
    [TestCase("""{"amount": 10""")]
    [TestCase("""not json""")]
    [TestCase("")]
    public void Bodies_with_no_name_given_twice_or_that_are_not_JSON_have_none(string json) =>
        Assert.That(StrictJson.FirstDuplicate(Encoding.UTF8.GetBytes(json)), Is.Null);

    [Test]
    public void The_shared_options_refuse_a_property_given_twice_in_any_case_and_inside_JSON_values()
    {
        Assert.Multiple(() =>
        {
            Assert.That(() => JsonSerializer.Deserialize<Amount>("""{"amount":1,"Amount":2}""", StrictJson.Options),
                Throws.InstanceOf<JsonException>());
            Assert.That(() => JsonSerializer.Deserialize<RecordedEvent>("""{"data":{"a":[{"b":1,"b":2}]}}""", StrictJson.Options),
                Throws.InstanceOf<JsonException>());
            Assert.That(JsonSerializer.Deserialize<Amount>("""{"amount":"1.5"}""", StrictJson.Options)!.Value, Is.EqualTo(1.5m));
        });
    }

    private sealed record Amount([property: System.Text.Json.Serialization.JsonPropertyName("amount")] decimal Value);
}
