using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using EventReplay.Producer.Accounts;

namespace EventReplay.Producer.Idempotency;

/// <summary>
/// A used <c>Idempotency-Key</c> and the answer it got: stored in the same transaction as the append (or the
/// refusal), so a retry, even after a restart, gets the first answer back instead of a second append.
/// </summary>
public sealed record IdempotencyRecord(string Id, string RequestHash, string AccountId, long Version, long Position,
    bool Created, Rejection? Rejection, DateTimeOffset RecordedAt)
{
    public const int MaxKeyLength = 200;

    public static IdempotencyRecord For(string key, string requestHash, string accountId, WriteResult result) => result switch
    {
        WriteResult.Recorded recorded => new(key, requestHash, accountId, recorded.Version, recorded.Position, recorded.Created,
            null, DateTimeOffset.UtcNow),
        WriteResult.Refused refused => new(key, requestHash, accountId, 0, 0, false, refused.Rejection, DateTimeOffset.UtcNow),
        _ => throw new ArgumentOutOfRangeException(nameof(result), result, "Only appends and refusals are kept."),
    };

    public WriteResult ToResult() => Rejection is { } rejection
        ? new WriteResult.Refused(rejection)
        : new WriteResult.Recorded(AccountId, Version, Position, Created);

    /// <summary>A hash of the command's meaning, so equal bodies match whatever their formatting (10 and 10.00 alike).</summary>
    public static string Hash(AccountCommand command)
    {
        var canonical = command switch
        {
            OpenAccount open => $"open|{open.AccountId}|{open.Owner}",
            DepositFunds deposit => $"deposit|{deposit.AccountId}|{Amount(deposit.Amount)}",
            WithdrawFunds withdraw => $"withdraw|{withdraw.AccountId}|{Amount(withdraw.Amount)}",
            CloseAccount close => $"close|{close.AccountId}",
            _ => throw new ArgumentOutOfRangeException(nameof(command), command, "Unknown account command."),
        };
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));
    }

    public static string? CheckKey(string key) =>
        key.Length is > 0 and <= MaxKeyLength && key.All(c => c is >= '!' and <= '~')
            ? null
            : $"must be 1 to {MaxKeyLength} printable ASCII characters without spaces";

    private static string Amount(decimal amount) => amount.ToString("0.00", CultureInfo.InvariantCulture);
}
