namespace EventReplay.Producer.Accounts;

/// <summary>Input rules for account commands; each returns an error message or null when the value is valid.</summary>
public static class AccountRules
{
    public const decimal MaxAmount = 1_000_000_000m;
    public const int MaxOwnerLength = 200;

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
