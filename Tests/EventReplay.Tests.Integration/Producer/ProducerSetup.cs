using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Producer;

/// <summary>One producer process over an emptied test schema, shared by the producer tests.</summary>
[SetUpFixture]
public class ProducerSetup
{
    public static ServiceProcess Producer { get; private set; } = null!;

    public static Dictionary<string, string> Environment { get; } = TestEnvironment.ServiceConnections();

    public static ProducerApi Api() => new(Producer.CreateClient());

    [OneTimeSetUp]
    public async Task StartProducer()
    {
        await Database.DropSchemaAsync(TestEnvironment.EventStoreConnectionString, "producer");
        Producer = new ServiceProcess("EventReplay.Producer", Environment);
        await Producer.StartAsync();
    }

    [OneTimeTearDown]
    public async Task StopProducer() => await Producer.DisposeAsync();
}
