using EventReplay.Contracts.Accounts;
using EventReplay.Producer.Accounts;

namespace EventReplay.Tests.Unit.Accounts;

public class AccountDecisionsTests
{
    private static readonly Account Open = new("acc-1", "Ada", 100m, AccountStatus.Open);
    private static readonly Account Closed = Open with { Status = AccountStatus.Closed };

    [Test]
    public void Opening_a_new_account_records_AccountOpened()
    {
        var decision = AccountDecisions.Decide(null, new OpenAccount("acc-1", "Ada"));

        Assert.That(decision.Event, Is.EqualTo(new AccountOpened("acc-1", "Ada")));
    }

    [Test]
    public void Opening_an_existing_account_is_refused()
    {
        Assert.That(AccountDecisions.Decide(Open, new OpenAccount("acc-1", "Ada")).Rejection, Is.EqualTo(Rejection.AlreadyExists));
    }

    [TestCase(typeof(DepositFunds))]
    [TestCase(typeof(WithdrawFunds))]
    [TestCase(typeof(CloseAccount))]
    public void Commands_on_an_unknown_account_are_refused_as_not_found(Type commandType)
    {
        Assert.That(AccountDecisions.Decide(null, Make(commandType)).Rejection, Is.EqualTo(Rejection.NotFound));
    }

    [TestCase(typeof(DepositFunds))]
    [TestCase(typeof(WithdrawFunds))]
    [TestCase(typeof(CloseAccount))]
    public void Commands_on_a_closed_account_are_refused(Type commandType)
    {
        Assert.That(AccountDecisions.Decide(Closed, Make(commandType)).Rejection, Is.EqualTo(Rejection.Closed));
    }

    [Test]
    public void Deposit_records_FundsDeposited()
    {
        Assert.That(AccountDecisions.Decide(Open, new DepositFunds("acc-1", 12.5m)).Event,
            Is.EqualTo(new FundsDeposited("acc-1", 12.5m)));
    }

    [Test]
    public void Withdrawal_of_the_whole_balance_is_allowed()
    {
        Assert.That(AccountDecisions.Decide(Open, new WithdrawFunds("acc-1", 100m)).Event,
            Is.EqualTo(new FundsWithdrawn("acc-1", 100m)));
    }

    [Test]
    public void Withdrawal_beyond_the_balance_is_refused()
    {
        Assert.That(AccountDecisions.Decide(Open, new WithdrawFunds("acc-1", 100.01m)).Rejection,
            Is.EqualTo(Rejection.InsufficientFunds));
    }

    [Test]
    public void Closing_an_open_account_records_AccountClosed()
    {
        Assert.That(AccountDecisions.Decide(Open, new CloseAccount("acc-1")).Event, Is.EqualTo(new AccountClosed("acc-1")));
    }

    [Test]
    public void State_is_the_fold_of_the_stream()
    {
        var state = Account.Create(new AccountOpened("acc-1", "Ada"))
            .Apply(new FundsDeposited("acc-1", 125.50m))
            .Apply(new FundsWithdrawn("acc-1", 20m))
            .Apply(new AccountClosed("acc-1"));

        Assert.That(state, Is.EqualTo(new Account("acc-1", "Ada", 105.50m, AccountStatus.Closed)));
    }

    private static AccountCommand Make(Type commandType) => commandType.Name switch
    {
        nameof(DepositFunds) => new DepositFunds("acc-1", 1m),
        nameof(WithdrawFunds) => new WithdrawFunds("acc-1", 1m),
        _ => new CloseAccount("acc-1"),
    };
}
