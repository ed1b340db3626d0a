using System.Buffers;
using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace EventReplay.Producer.Accounts;

/// <summary>
/// Reads a JSON number into a decimal only when the decimal holds exactly that number. A decimal keeps 28 to 29
/// significant digits and rounds the rest away without a word: 1.0000000000000000000000000000001 became an amount of 1,
/// and passed the two-decimal-places rule it breaks. Such a number is refused like one too large for a decimal (1e309).
/// </summary>
public sealed class ExactDecimalConverter : JsonConverter<decimal?>
{
    // A JSON null never gets here (HandleNull is false): it is a missing amount, as without this converter.
    public override decimal? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.Number || !reader.TryGetDecimal(out var value))
        {
            throw new JsonException("Expected a number a decimal can hold.");
        }

        var written = reader.HasValueSequence ? Encoding.ASCII.GetString(reader.ValueSequence.ToArray()) : Encoding.ASCII.GetString(reader.ValueSpan);
        if (Exact(written) != Exact(value.ToString(CultureInfo.InvariantCulture)))
        {
            throw new JsonException($"The number {written} has more digits than a decimal holds.");
        }

        return value;
    }

    public override void Write(Utf8JsonWriter writer, decimal? value, JsonSerializerOptions options)
    {
        if (value is { } number)
        {
            writer.WriteNumberValue(number);
        }
        else
        {
            writer.WriteNullValue();
        }
    }

    /// <summary>A number as (significant digits, power of ten), with no leading or trailing zeros: equal numbers, equal forms.</summary>
    private static (BigInteger Digits, BigInteger Exponent) Exact(string number)
    {
        var exponentAt = number.IndexOfAny(['e', 'E']);
        var exponent = exponentAt < 0 ? BigInteger.Zero : BigInteger.Parse(number[(exponentAt + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        var mantissa = exponentAt < 0 ? number : number[..exponentAt];
        var point = mantissa.IndexOf('.', StringComparison.Ordinal);
        if (point >= 0)
        {
            exponent -= mantissa.Length - point - 1;
            mantissa = mantissa.Remove(point, 1);
        }

        var digits = BigInteger.Parse(mantissa, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        if (digits.IsZero)
        {
            return (BigInteger.Zero, BigInteger.Zero);
        }

        while (digits % 10 == 0)
        {
            digits /= 10;
            exponent++;
        }

        return (digits, exponent);
    }
}
