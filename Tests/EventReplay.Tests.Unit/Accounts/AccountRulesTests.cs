using System.Text.Json;
using EventReplay.Contracts.Accounts;
using EventReplay.Producer.Accounts;
using EventReplay.Producer.Idempotency;

namespace EventReplay.Tests.Unit.Accounts;

public class AccountRulesTests
{
    [TestCase("acc-1")]
    [TestCase("A_b-9")]
    [TestCase("x")]
    public void Valid_account_ids_are_accepted(string accountId)
    {
        Assert.That(AccountId.Check(accountId), Is.Null);
    }

    [TestCase("")]
    [TestCase("a/b")]
    [TestCase("..")]
    [TestCase("a.b")]
    [TestCase("konto-ü")]
    [TestCase("acc 1")]
    [TestCase("mt_tombstone")]
    [TestCase("acc-1\n")]
    [TestCase("acc-1\r\n")]
    [TestCase(null)]
    public void Invalid_account_ids_are_refused(string? accountId)
    {
        Assert.That(AccountId.Check(accountId), Is.Not.Null);
    }

    [Test]
    public void Account_ids_longer_than_64_characters_are_refused()
    {
        Assert.Multiple(() =>
        {
            Assert.That(AccountId.Check(new string('a', 64)), Is.Null);
            Assert.That(AccountId.Check(new string('a', 65)), Is.Not.Null);
        });
    }

    [TestCase("0.01")]
    [TestCase("125.50")]
    [TestCase("1.000")]
    [TestCase("1000000000")]
    public void Valid_amounts_are_accepted(string amount)
    {
        Assert.That(AccountRules.CheckAmount(decimal.Parse(amount, System.Globalization.CultureInfo.InvariantCulture)), Is.Null);
    }

    [TestCase("0")]
    [TestCase("-1")]
    [TestCase("0.001")]
    [TestCase("10.005")]
    [TestCase("1000000000.01")]
    public void Invalid_amounts_are_refused(string amount)
    {
        Assert.That(AccountRules.CheckAmount(decimal.Parse(amount, System.Globalization.CultureInfo.InvariantCulture)), Is.Not.Null);
    }

    [TestCase("1", 1)]
    [TestCase("1.000", 1)]
    [TestCase("1e2", 100)]
    [TestCase("1E+2", 100)]
    [TestCase("0.10", 0.1)]
    [TestCase("-0", 0)]
    [TestCase("1000000000.00", 1_000_000_000)]
    public void Amounts_are_read_as_written(string json, decimal amount)
    {
        Assert.That(ReadAmount(json), Is.EqualTo(amount));
    }

    // Numbers a decimal would round (silently, to 1 or to 0) or cannot hold at all.
    [TestCase("1.0000000000000000000000000000001")]
    [TestCase("0.0000000000000000000000000000001")]
    [TestCase("1e-400")]
    [TestCase("1e309")]
    [TestCase("\"1\"")]
    [TestCase("true")]
    public void Amounts_a_decimal_cannot_hold_exactly_are_not_read(string json)
    {
        Assert.That(() => ReadAmount(json), Throws.InstanceOf<JsonException>());
    }

    [Test]
    public void A_null_amount_is_a_missing_one()
    {
        Assert.That(ReadAmount("null"), Is.Null);
    }

    [Test]
    public void A_missing_amount_is_refused()
    {
        Assert.That(AccountRules.CheckAmount(null), Is.EqualTo("is required"));
    }

    [TestCase(null)]
    [TestCase("  ")]
    [TestCase("Ada\u0000")]
    public void Invalid_owners_are_refused(string? owner)
    {
        Assert.That(AccountRules.CheckOwner(owner), Is.Not.Null);
    }

    private static decimal? ReadAmount(string json) =>
        JsonSerializer.Deserialize<AmountRequest>($$"""{"amount":{{json}}}""", new JsonSerializerOptions(JsonSerializerDefaults.Web))!.Amount;

    [Test]
    public void Idempotency_hash_ignores_how_an_amount_is_written()
    {
        Assert.That(IdempotencyRecord.Hash(new DepositFunds("a", 10m)), Is.EqualTo(IdempotencyRecord.Hash(new DepositFunds("a", 10.00m))));
    }

    [Test]
    public void Idempotency_hash_tells_commands_apart()
    {
        var hashes = new[]
        {
            IdempotencyRecord.Hash(new DepositFunds("a", 10m)),
            IdempotencyRecord.Hash(new WithdrawFunds("a", 10m)),
            IdempotencyRecord.Hash(new DepositFunds("a", 10.01m)),
            IdempotencyRecord.Hash(new DepositFunds("b", 10m)),
        };

        Assert.That(hashes, Is.Unique);
    }

    [TestCase("key-1", true)]
    [TestCase("", false)]
    [TestCase("has space", false)]
    [TestCase("ünïcode", false)]
    public void Idempotency_keys_are_printable_ascii(string key, bool valid)
    {
        Assert.That(IdempotencyRecord.CheckKey(key) is null, Is.EqualTo(valid));
    }
}
