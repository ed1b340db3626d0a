using EventReplay.Hosting;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>
/// The services' broker users as eng/services.sh makes them (eng/broker-users.sh: a password each in
/// <c>.local/secrets/rabbitmq/</c>): a service process of the tests connects as its own user, as under eng/run.sh.
/// </summary>
public static class BrokerAccounts
{
    private static readonly string Secrets = Path.Combine(TestEnvironment.RepoRoot, ".local", "secrets", "rabbitmq");

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

    public static string Password(string user) => File.ReadAllText(Path.Combine(Secrets, user)).Trim();

    /// <summary><paramref name="url"/> with <paramref name="user"/> and its password in place of its own.</summary>
    public static string As(string url, string user) =>
        new UriBuilder(url) { UserName = Uri.EscapeDataString(user), Password = Uri.EscapeDataString(Password(user)) }.Uri.ToString();

    /// <summary>
    /// A service's settings with its broker URL as its own user's when the URL is the administrator's (any broker of the
    /// tests: each has the services' users).
    /// </summary>
    public static IReadOnlyDictionary<string, string> ForService(string project, IReadOnlyDictionary<string, string> environment)
    {
        if (UserOf(project) is not { } user || !environment.TryGetValue("ConnectionStrings__rabbitmq", out var url)
            || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || Uri.UnescapeDataString(uri.UserInfo.Split(':')[0]) != Administrator)
        {
            return environment;
        }

        return new Dictionary<string, string>(environment) { ["ConnectionStrings__rabbitmq"] = As(url, user) };
    }
}
