using System.Globalization;

namespace EventReplay.Monitor.FailedMessages;

/// <summary>
/// The "next" of a page of failed messages: the last item's time (to the microsecond, as PostgreSQL keeps it) and id, as
/// opaque text that needs no escaping in a URL. The API and the console's older-page link write and read the same.
/// </summary>
public static class FailedMessageCursor
{
    public static string Format((DateTimeOffset FailedAt, Guid Id) page) =>
        $"{page.FailedAt.ToUnixTimeMilliseconds() * 1000 + page.FailedAt.Ticks % TimeSpan.TicksPerMillisecond / 10}-{page.Id:N}";

    public static (DateTimeOffset, Guid)? Parse(string text)
    {
        var parts = text.Split('-');
        return parts.Length == 2 && parts[0].All(char.IsAsciiDigit) && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var micros)
            && micros < 253402300799000000 && Guid.TryParseExact(parts[1], "N", out var id)
            ? (DateTimeOffset.UnixEpoch.AddTicks(micros * 10), id)
            : null;
    }
}
