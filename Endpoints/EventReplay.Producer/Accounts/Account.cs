using EventReplay.Contracts.Accounts;

namespace EventReplay.Producer.Accounts;

public enum AccountStatus
{
    Open,
    Closed,
}

/// <summary>An account's write-side state: a pure fold of its stream, kept as an inline snapshot by Marten.</summary>
public sealed record Account(string Id, string Owner, decimal Balance, AccountStatus Status)
{
    public static Account Create(AccountOpened opened) => new(opened.AccountId, opened.Owner, 0m, AccountStatus.Open);

    public Account Apply(FundsDeposited deposited) => this with { Balance = Balance + deposited.Amount };

    public Account Apply(FundsWithdrawn withdrawn) => this with { Balance = Balance - withdrawn.Amount };

    public Account Apply(AccountClosed closed) => this with { Status = AccountStatus.Closed };
}
