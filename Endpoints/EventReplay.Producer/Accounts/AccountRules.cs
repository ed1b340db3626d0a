using System.Text.RegularExpressions;

namespace EventReplay.Producer.Accounts;

/// <summary>Input rules for account commands; each returns an error message or null when the value is valid.</summary>
public static partial class AccountRules
{
    public const decimal MaxAmount = 1_000_000_000m;
    public const int MaxOwnerLength = 200;

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex AccountIdPattern();

    public static string? CheckAccountId(string? accountId) => accountId switch
    {
        null => "is required",
        _ when !AccountIdPattern().IsMatch(accountId) => "must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'",
        // Marten keeps streams of its own (such as mt_tombstone) in the same table.
        _ when accountId.StartsWith("mt_", StringComparison.OrdinalIgnoreCase) => "must not start with 'mt_' (reserved by the event store)",
        _ => null,
    };

    public static string? CheckAmount(decimal? amount) => amount switch
    {
        null => "is required",
        <= 0m => "must be greater than 0",
        > MaxAmount => "must be at most 1000000000",
        { } value when value != decimal.Round(value, 2) => "must have at most two decimal places",
        _ => null,
    };

    public static string? CheckOwner(string? owner) => owner switch
    {
        null => "is required",
        _ when string.IsNullOrWhiteSpace(owner) => "must not be blank",
        { Length: > MaxOwnerLength } => $"must be at most {MaxOwnerLength} characters",
        _ when owner.Any(char.IsControl) => "must not contain control characters",
        _ => null,
    };
}
