using EventReplay.Contracts;
using EventReplay.Contracts.Accounts;

namespace EventReplay.Consumers.Balances.Balances;

/// <summary>One account's row in the balances read model.</summary>
public sealed record AccountBalance(
    string AccountId, string Owner, decimal Balance, string Status, long Version, long Position, DateTimeOffset UpdatedAt);

public enum ApplyOutcome
{
    Applied,
    Duplicate,
    Gap,
}

/// <summary>
/// The outcome of a batch: the rows it changed, the duplicates it skipped, the events waiting for an earlier
/// version (gaps) and those that can never apply (invalid, with the reason).
/// </summary>
public sealed record BatchResult(
    IReadOnlyList<AccountBalance> Changed,
    int Applied,
    int Duplicates,
    IReadOnlyList<RecordedEvent> Gaps,
    IReadOnlyList<(RecordedEvent Event, string Reason)> Invalid);

/// <summary>
/// The balances read model as a pure fold, the one apply path for live and replayed events. Version rule:
/// event v of a stream applies only to a row at v-1; v or lower is a duplicate and changes nothing; anything
/// higher is a gap and is never skipped over.
/// </summary>
public static class BalanceProjection
{
    public const string Open = "open";
    public const string Closed = "closed";

    public static (AccountBalance? State, ApplyOutcome Outcome) Apply(AccountBalance? current, RecordedEvent recorded)
    {
        var stored = current?.Version ?? 0;
        if (recorded.Version <= stored)
        {
            return (current, ApplyOutcome.Duplicate);
        }

        if (recorded.Version > stored + 1)
        {
            return (current, ApplyOutcome.Gap);
        }

        var (owner, balance, status) = (AccountEventData.Read(recorded), current) switch
        {
            (AccountOpened opened, null) => (opened.Owner, 0m, Open),
            (FundsDeposited deposited, not null) => (current.Owner, current.Balance + deposited.Amount, current.Status),
            (FundsWithdrawn withdrawn, not null) => (current.Owner, current.Balance - withdrawn.Amount, current.Status),
            (AccountClosed, not null) => (current.Owner, current.Balance, Closed),
            _ => throw new InvalidEventException(
                $"{recorded.Type} cannot be version {recorded.Version} of {recorded.StreamId} (position {recorded.Position})."),
        };

        // The stream is the account: its id, not a field of the data, keys the row.
        return (new AccountBalance(recorded.StreamId, owner, balance, status, recorded.Version, recorded.Position, recorded.Timestamp),
            ApplyOutcome.Applied);
    }

    /// <summary>Applies a batch in order over the rows it touches; rows are keyed by account id.</summary>
    public static BatchResult ApplyBatch(IReadOnlyDictionary<string, AccountBalance> rows, IEnumerable<RecordedEvent> batch)
    {
        var states = new Dictionary<string, AccountBalance>(rows);
        var changed = new HashSet<string>();
        var gaps = new List<RecordedEvent>();
        var invalid = new List<(RecordedEvent, string)>();
        int applied = 0, duplicates = 0;
        foreach (var recorded in batch)
        {
            AccountBalance? state;
            ApplyOutcome outcome;
            try
            {
                (state, outcome) = Apply(states.GetValueOrDefault(recorded.StreamId), recorded);
            }
            catch (InvalidEventException exception)
            {
                invalid.Add((recorded, exception.Message));
                continue;
            }

            switch (outcome)
            {
                case ApplyOutcome.Applied:
                    states[recorded.StreamId] = state!;
                    changed.Add(recorded.StreamId);
                    applied++;
                    break;
                case ApplyOutcome.Duplicate:
                    duplicates++;
                    break;
                default:
                    gaps.Add(recorded);
                    break;
            }
        }

        return new BatchResult([.. changed.Select(id => states[id])], applied, duplicates, gaps, invalid);
    }
}
