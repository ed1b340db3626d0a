using EventReplay.Producer.Accounts;

namespace EventReplay.Tests.Unit.Accounts;

public class VersionPreconditionTests
{
    [TestCase("\"3\"", 3, true)]
    [TestCase("\"3\", \"4\"", 4, true)]
    [TestCase("\"3\", \"4\"", 5, false)]
    [TestCase("W/\"3\"", 3, false)]
    [TestCase("\"a\"", 3, false)]
    [TestCase("*", 7, true)]
    [TestCase("\"1\", *", 7, true)]
    public void A_header_that_parses_asks_for_these_versions(string header, long version, bool met)
    {
        var (precondition, error) = VersionPrecondition.Parse([header]);

        Assert.Multiple(() =>
        {
            Assert.That(error, Is.Null);
            Assert.That(precondition!.IsMetBy(exists: true, version), Is.EqualTo(met));
        });
    }

    // Every part must parse: a lenient reader dropped the bad parts and kept "*" of "*, garbage".
    [TestCase("*, garbage")]
    [TestCase("\"3\", garbage")]
    [TestCase("\"3\" \"4\"")]
    [TestCase("3")]
    [TestCase("\"3")]
    [TestCase("\"3\";")]
    public void A_header_that_does_not_parse_as_a_whole_is_an_error(string header)
    {
        var (precondition, error) = VersionPrecondition.Parse([header]);

        Assert.That((precondition, error), Is.EqualTo(((VersionPrecondition?)null, "must be *, or one or more entity tags such as \"3\"")));
    }

    [Test]
    public void No_header_asks_for_nothing()
    {
        Assert.That(VersionPrecondition.Parse([]), Is.EqualTo(((VersionPrecondition?)null, (string?)null)));
    }
}
