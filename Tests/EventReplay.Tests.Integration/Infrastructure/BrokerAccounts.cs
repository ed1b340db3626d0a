using EventReplay.Hosting;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>
/// The services' broker and Redis users as eng/services.sh makes them (eng/broker-users.sh, eng/secrets.sh: a password
/// each in <c>.local/secrets/rabbitmq/</c> and <c>redis/</c>): a service process of the tests connects as its own user,
/// as under eng/run.sh.
/// </summary>
public static class BrokerAccounts
{
    /// <summary>The administrator's user name in the tests' broker URL.</summary>
    public static string Administrator { get; } = Uri.UnescapeDataString(new Uri(TestEnvironment.RabbitMqConnectionString).UserInfo.Split(':')[0]);

    /// <summary>The broker user of a service project; null for a project that does not use the broker.</summary>
    public static string? UserOf(string project) => project switch
    {
        "EventReplay.Producer" => BrokerUsers.DefaultProducer,
        "EventReplay.Consumers.Balances" => BrokerUsers.DefaultConsumer("balances"),
        "EventReplay.Consumers.Statistics" => BrokerUsers.DefaultConsumer("statistics"),
        "EventReplay.Replay" => BrokerUsers.DefaultReplay,
        "EventReplay.Monitor" => BrokerUsers.DefaultMonitor,
        "EventReplay.Gateway" => BrokerUsers.DefaultGateway,
        _ => null,
    };

    public static string Password(string user) => TestEnvironment.LocalSecret("rabbitmq/" + user);

    /// <summary><paramref name="url"/> with <paramref name="user"/> and its password in place of its own.</summary>
    public static string As(string url, string user) =>
        new UriBuilder(url) { UserName = Uri.EscapeDataString(user), Password = Uri.EscapeDataString(Password(user)) }.Uri.ToString();

    /// <summary>The Redis user of a service project (eng/secrets.sh): the consumers' alone use Redis.</summary>
    public static string? RedisUserOf(string project) => project switch
    {
        "EventReplay.Consumers.Balances" => "er-balances",
        "EventReplay.Consumers.Statistics" => "er-statistics",
        _ => null,
    };

    /// <summary>
    /// A service's settings with its broker URL and its Redis connection as its own users' when they are the
    /// administrator's (any broker or Redis of the tests: each has the services' users), as under eng/run.sh.
    /// </summary>
    public static IReadOnlyDictionary<string, string> ForService(string project, IReadOnlyDictionary<string, string> environment)
    {
        var settings = new Dictionary<string, string>(environment);
        if (UserOf(project) is { } user && settings.TryGetValue("ConnectionStrings__rabbitmq", out var url)
            && Uri.TryCreate(url, UriKind.Absolute, out var uri) && Uri.UnescapeDataString(uri.UserInfo.Split(':')[0]) == Administrator)
        {
            settings["ConnectionStrings__rabbitmq"] = As(url, user);
        }

        if (RedisUserOf(project) is { } redisUser && settings.TryGetValue("ConnectionStrings__redis", out var redis)
            && StackExchange.Redis.ConfigurationOptions.Parse(redis) is { User: "eventreplay" } options)
        {
            options.User = redisUser;
            options.Password = TestEnvironment.LocalSecret("redis/" + redisUser);
            settings["ConnectionStrings__redis"] = options.ToString(includePassword: true);
        }

        return settings;
    }
}
