using EventReplay.Contracts;
using EventReplay.Contracts.Accounts;

namespace EventReplay.Consumers.Statistics.Statistics;

/// <summary>The totals over every account, as of <see cref="Position"/> (the last applied event).</summary>
public sealed record Totals(
    long Accounts, long OpenAccounts, long DepositCount, decimal DepositTotal, long WithdrawalCount, decimal WithdrawalTotal,
    long Position)
{
    public static readonly Totals Empty = new(0, 0, 0, 0m, 0, 0m, 0);
}

/// <summary>A batch's outcome: the new totals, the stream versions it moved, and what it skipped, held back or refused.</summary>
public sealed record StatisticsBatch(
    Totals Totals,
    IReadOnlyDictionary<string, long> Versions,
    int Applied,
    int Duplicates,
    IReadOnlyList<RecordedEvent> Gaps,
    IReadOnlyList<(RecordedEvent Event, string Reason)> Invalid);

/// <summary>
/// The statistics read model as a pure fold, with the same version rule as every consumer: event v of a stream
/// counts only when the stream is at v-1; v or lower is a duplicate; higher is a gap and waits.
/// </summary>
public static class StatisticsProjection
{
    public static StatisticsBatch ApplyBatch(Totals totals, IReadOnlyDictionary<string, long> versions, IEnumerable<RecordedEvent> batch)
    {
        var moved = new Dictionary<string, long>();
        var gaps = new List<RecordedEvent>();
        var invalid = new List<(RecordedEvent, string)>();
        int applied = 0, duplicates = 0;
        foreach (var recorded in batch)
        {
            var stored = moved.TryGetValue(recorded.StreamId, out var version) ? version : versions.GetValueOrDefault(recorded.StreamId);
            if (recorded.Version <= stored)
            {
                duplicates++;
                continue;
            }

            if (recorded.Version > stored + 1)
            {
                gaps.Add(recorded);
                continue;
            }

            try
            {
                totals = Apply(totals, recorded);
            }
            catch (InvalidEventException exception)
            {
                invalid.Add((recorded, exception.Message));
                continue;
            }

            moved[recorded.StreamId] = recorded.Version;
            applied++;
        }

        return new StatisticsBatch(totals, moved, applied, duplicates, gaps, invalid);
    }

    /// <summary>Adds one event that is the next version of its stream.</summary>
    public static Totals Apply(Totals totals, RecordedEvent recorded)
    {
        var next = (AccountEventData.Read(recorded), recorded.Version) switch
        {
            (AccountOpened, 1) => totals with { Accounts = totals.Accounts + 1, OpenAccounts = totals.OpenAccounts + 1 },
            (FundsDeposited deposited, > 1) => totals with
            {
                DepositCount = totals.DepositCount + 1, DepositTotal = totals.DepositTotal + deposited.Amount,
            },
            (FundsWithdrawn withdrawn, > 1) => totals with
            {
                WithdrawalCount = totals.WithdrawalCount + 1, WithdrawalTotal = totals.WithdrawalTotal + withdrawn.Amount,
            },
            (AccountClosed, > 1) => totals with { OpenAccounts = totals.OpenAccounts - 1 },
            _ => throw new InvalidEventException(
                $"{recorded.Type} cannot be version {recorded.Version} of {recorded.StreamId} (position {recorded.Position})."),
        };
        return next with { Position = Math.Max(totals.Position, recorded.Position) };
    }
}
