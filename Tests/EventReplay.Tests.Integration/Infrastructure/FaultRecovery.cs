using System.Diagnostics;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>How long the pipeline takes to come back after a fault is repaired.</summary>
public static class FaultRecovery
{
    /// <summary>
    /// Waits until both consumers have applied everything the log holds now (their checkpoints reach its head) and
    /// returns how long that took: from a fault's repair, the time to recover.
    /// </summary>
    public static async Task<TimeSpan> CatchUpAsync(SystemDatabases databases, TimeSpan timeout)
    {
        try
        {
            return await Checkpoints.CatchUpAsync(databases, timeout);
        }
        catch (TimeoutException exception)
        {
            throw new TimeoutException($"{exception.Message}. Pipeline: {await PipelineState.DescribeAsync(databases)}", exception);
        }
    }

    /// <summary>What <see cref="ConsumerBackAsync"/> saw: how long the consumer was down, the replay's end and when it came, the catch-up.</summary>
    public sealed record ConsumerBack(TimeSpan DownFor, System.Text.Json.JsonElement Replay, TimeSpan EndedAfter, TimeSpan CaughtUpIn);

    /// <summary>
    /// The end of a scenario that took a consumer down during a rebuild: starts it again, waits for the rebuild to end
    /// and for both consumers to catch up, then stops the load. Times are from <paramref name="down"/>'s start (the kill).
    /// </summary>
    public static async Task<ConsumerBack> ConsumerBackAsync(ServiceProcess consumer, Stopwatch down, ProducerApi api, string replayId,
        CommandLoad load, SystemDatabases databases, TimeSpan timeout)
    {
        await consumer.StartAsync();
        var downFor = down.Elapsed;
        var replay = await ReplayApi.WaitForEndAsync(api, replayId, TimeSpan.FromMinutes(5));
        var ended = down.Elapsed;
        var caughtUp = await CatchUpAsync(databases, timeout);
        await load.StopAsync();
        return new ConsumerBack(downFor, replay, ended, caughtUp);
    }

    /// <summary>How far the balances consumer is behind the log right now, in positions.</summary>
    public static async Task<long> BalancesLagAsync(SystemDatabases databases) =>
        await Database.ScalarAsync(databases.EventStore, "select coalesce(max(seq_id), 0) from producer.mt_events")
        - await Database.ScalarAsync(databases.ReadModels, "select position from balances.checkpoint");
}
