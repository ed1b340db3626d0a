using EventReplay.Contracts.Accounts;

namespace EventReplay.Producer.Accounts;

public abstract record AccountCommand(string AccountId);

public sealed record OpenAccount(string AccountId, string Owner) : AccountCommand(AccountId);

public sealed record DepositFunds(string AccountId, decimal Amount) : AccountCommand(AccountId);

public sealed record WithdrawFunds(string AccountId, decimal Amount) : AccountCommand(AccountId);

public sealed record CloseAccount(string AccountId) : AccountCommand(AccountId);

public enum Rejection
{
    NotFound,
    AlreadyExists,
    Closed,
    InsufficientFunds,
}

/// <summary>Either the event to record or why the command is refused.</summary>
public readonly record struct Decision(object? Event, Rejection? Rejection)
{
    public static Decision Accept(object @event) => new(@event, null);

    public static Decision Refuse(Rejection rejection) => new(null, rejection);
}

/// <summary>The account rules, as one pure function from the current state and a command to a decision.</summary>
public static class AccountDecisions
{
    public static Decision Decide(Account? state, AccountCommand command) => (state, command) switch
    {
        (null, OpenAccount open) => Decision.Accept(new AccountOpened(open.AccountId, open.Owner)),
        (not null, OpenAccount) => Decision.Refuse(Rejection.AlreadyExists),
        (null, _) => Decision.Refuse(Rejection.NotFound),
        ({ Status: AccountStatus.Closed }, _) => Decision.Refuse(Rejection.Closed),
        (_, DepositFunds deposit) => Decision.Accept(new FundsDeposited(deposit.AccountId, deposit.Amount)),
        (_, WithdrawFunds withdraw) when withdraw.Amount > state.Balance => Decision.Refuse(Rejection.InsufficientFunds),
        (_, WithdrawFunds withdraw) => Decision.Accept(new FundsWithdrawn(withdraw.AccountId, withdraw.Amount)),
        (_, CloseAccount close) => Decision.Accept(new AccountClosed(close.AccountId)),
        _ => throw new ArgumentOutOfRangeException(nameof(command), command, "Unknown account command."),
    };

    /// <summary>The state after an event: the same fold as the account's snapshot (see <see cref="Account"/>).</summary>
    public static Account Evolve(Account? state, object @event) => (state, @event) switch
    {
        (null, AccountOpened opened) => Account.Create(opened),
        (not null, FundsDeposited deposited) => state.Apply(deposited),
        (not null, FundsWithdrawn withdrawn) => state.Apply(withdrawn),
        (not null, AccountClosed closed) => state.Apply(closed),
        _ => throw new ArgumentOutOfRangeException(nameof(@event), @event, "Not an event for this account's state."),
    };
}
