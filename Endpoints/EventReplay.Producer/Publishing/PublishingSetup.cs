using EventReplay.Hosting;

namespace EventReplay.Producer.Publishing;

public static class PublishingSetup
{
    /// <summary>Publishing of committed events; <c>Publishing:Enabled=false</c> keeps a producer from publishing (tests of the store alone).</summary>
    public static WebApplicationBuilder AddPublishing(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<PublishSignal>();
        if (builder.Configuration.GetValue("Publishing:Enabled", true))
        {
            builder.AddRabbitMq();
            builder.Services.AddHostedService<EventPublisher>();
        }

        return builder;
    }
}
