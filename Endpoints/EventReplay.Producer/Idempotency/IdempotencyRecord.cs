using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using EventReplay.Producer.Accounts;

namespace EventReplay.Producer.Idempotency;

/// <summary>
/// A used <c>Idempotency-Key</c>: stored in the same transaction as the append it produced, so a retry, even
/// after a restart, finds it and gets the first response back instead of a second append.
/// </summary>
public sealed record IdempotencyRecord(string Id, string RequestHash, string AccountId, long Version, bool Created,
    DateTimeOffset RecordedAt)
{
    public const int MaxKeyLength = 200;

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
