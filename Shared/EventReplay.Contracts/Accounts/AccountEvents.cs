namespace EventReplay.Contracts.Accounts;

// Event type names are the storage and wire contract: never rename one, add a new name instead.
public sealed record AccountOpened(string AccountId, string Owner);

public sealed record FundsDeposited(string AccountId, decimal Amount);

public sealed record FundsWithdrawn(string AccountId, decimal Amount);

public sealed record AccountClosed(string AccountId);

public static class AccountEventTypes
{
    public const string AccountOpened = nameof(Accounts.AccountOpened);
    public const string FundsDeposited = nameof(Accounts.FundsDeposited);
    public const string FundsWithdrawn = nameof(Accounts.FundsWithdrawn);
    public const string AccountClosed = nameof(Accounts.AccountClosed);

    public static IReadOnlyDictionary<string, Type> All { get; } = new Dictionary<string, Type>
    {
        [AccountOpened] = typeof(AccountOpened),
        [FundsDeposited] = typeof(FundsDeposited),
        [FundsWithdrawn] = typeof(FundsWithdrawn),
        [AccountClosed] = typeof(AccountClosed),
    };
}
