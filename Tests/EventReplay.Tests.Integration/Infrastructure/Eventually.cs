using System.Diagnostics;

namespace EventReplay.Tests.Integration.Infrastructure;

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
}
