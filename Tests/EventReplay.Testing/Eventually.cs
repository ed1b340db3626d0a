using System.Diagnostics;

namespace EventReplay.Testing;

/// <summary>Polls a condition until it holds or a deadline passes: the tests' only way to wait.</summary>
public static class Eventually
{
    public static async Task<T> Until<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        T last;
        do
        {
            last = await probe();
            if (done(last))
            {
                return last;
            }

            // Not a sleep standing in for synchronisation: the pause between two checks of the condition,
            // which alone decides the outcome (or the deadline does, with a failure naming what never happened).
            await Task.Delay(TimeSpan.FromMilliseconds(100)); // polling interval between checks, see above
        }
        while (clock.Elapsed < timeout);

        throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0.#} s waiting for {what}; last value: {last}");
    }

    /// <summary>
    /// Checks a condition for the whole of <paramref name="period"/> and fails as soon as it does not hold: how a test
    /// shows that something does not happen (a restart, say) within a period longer than it would take to happen.
    /// </summary>
    public static async Task Holds<T>(Func<Task<T>> probe, Func<T, bool> holds, TimeSpan period, string what)
    {
        var clock = Stopwatch.StartNew();
        do
        {
            var last = await probe();
            if (!holds(last))
            {
                throw new InvalidOperationException(
                    $"Expected {what} for {period.TotalSeconds:0.#} s; it no longer held after {clock.Elapsed.TotalSeconds:0.#} s: {last}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100)); // polling interval between checks, as in Until
        }
        while (clock.Elapsed < period);
    }
}
