using System.Text.RegularExpressions;

namespace EventReplay.Contracts.Accounts;

/// <summary>The account id rule (the account's stream id): every service that takes one checks it here.</summary>
public static partial class AccountId
{
    // \z, not $: $ also matches before a final line feed, which let "acc-1\n" through as an id.
    [GeneratedRegex(@"^[A-Za-z0-9_-]{1,64}\z")]
    private static partial Regex Pattern();

    /// <summary>An error message for an id that breaks the rule, or null when it is valid.</summary>
    public static string? Check(string? accountId) => accountId switch
    {
        null => "is required",
        _ when !Pattern().IsMatch(accountId) => "must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'",
        // Marten keeps streams of its own (such as mt_tombstone) in the same table.
        _ when accountId.StartsWith("mt_", StringComparison.OrdinalIgnoreCase) => "must not start with 'mt_' (reserved by the event store)",
        _ => null,
    };
}
