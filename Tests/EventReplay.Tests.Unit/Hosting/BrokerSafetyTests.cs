using EventReplay.Hosting;

namespace EventReplay.Tests.Unit.Hosting;

/// <summary>A publish whose confirm never comes must fail the publisher's loop (which starts over), not hang it.</summary>
public class BrokerSafetyTests
{
    [Test]
    public async Task A_confirm_that_never_comes_is_a_timeout()
    {
        var failure = await Assert.ThrowsAsync<TimeoutException>(() => BrokerSafety.ConfirmedWithinTimeoutAsync(
            deadline => Task.Delay(Timeout.Infinite, deadline), // a publish whose confirm never comes, not a sleep
            CancellationToken.None, TimeSpan.FromMilliseconds(50)));

        Assert.That(failure!.Message, Does.Contain("did not confirm"));
    }

    [Test]
    public void A_stop_request_stays_a_cancellation()
    {
        using var stopping = new CancellationTokenSource();
        stopping.Cancel();

        Assert.That(() => BrokerSafety.ConfirmedWithinTimeoutAsync(
                deadline => Task.Delay(Timeout.Infinite, deadline), // a publish whose confirm never comes, not a sleep
                stopping.Token, TimeSpan.FromMinutes(1)),
            Throws.InstanceOf<OperationCanceledException>());
    }

    [Test]
    public async Task A_confirm_in_time_passes_through()
    {
        var published = false;
        await BrokerSafety.ConfirmedWithinTimeoutAsync(async deadline =>
        {
            await Task.Yield();
            published = !deadline.IsCancellationRequested;
        }, CancellationToken.None);

        Assert.That(published, Is.True);
    }
}
