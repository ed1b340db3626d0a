namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>
/// A test class whose tests share one whole system (<see cref="ServiceStack"/>) started over an empty event log and
/// empty read models, and stopped after the last test.
/// </summary>
public abstract class StackOverEmptyLog
{
    protected ServiceStack Stack { get; private set; } = null!;

    protected ProducerApi Api => Stack.Api;

    protected static SystemDatabases Databases => TestEnvironment.Databases;

    /// <summary>The read models' database (the consumers' tables and checkpoints, the replay sagas).</summary>
    protected static string ReadModels => TestEnvironment.ReadModelsConnectionString;

    /// <summary>The event store's database.</summary>
    protected static string EventStore => TestEnvironment.EventStoreConnectionString;

    [OneTimeSetUp]
    public async Task StartFromAnEmptyLog()
    {
        await PipelineState.ResetWithEmptyLogAsync(TestEnvironment.Databases, TestEnvironment.RedisConnectionString);
        Stack = await ServiceStack.StartedAsync();
    }

    [OneTimeTearDown]
    public async Task StopStack() => await Stack.DisposeAsync();
}
