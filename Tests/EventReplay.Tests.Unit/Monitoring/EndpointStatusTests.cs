using EventReplay.Monitor.Endpoints;

namespace EventReplay.Tests.Unit.Monitoring;

/// <summary>An instance's status from when it was last heard from and whether it said goodbye.</summary>
public class EndpointStatusTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 10, 0, 0, TimeSpan.Zero);

    private static EndpointInstance HeardAt(DateTimeOffset lastSeen, DateTimeOffset? stopped = null) =>
        new("balances", "i-1", "host", 42, "1.0.0", lastSeen.AddMinutes(-1), lastSeen, stopped, []);

    [TestCase(0, "alive")]
    [TestCase(14.9, "alive")]
    [TestCase(15, "alive")]
    [TestCase(15.1, "missing")]
    [TestCase(3600, "missing")]
    public void Silent_for_more_than_15_s_is_missing(double secondsAgo, string status) =>
        Assert.That(HeardAt(Now.AddSeconds(-secondsAgo)).StatusAt(Now), Is.EqualTo(status));

    [TestCase(0)]
    [TestCase(60)]
    public void One_that_said_goodbye_is_stopped_however_long_ago(double secondsAgo)
    {
        var lastSeen = Now.AddSeconds(-secondsAgo);
        Assert.That(HeardAt(lastSeen, stopped: lastSeen).StatusAt(Now), Is.EqualTo("stopped"));
    }
}
