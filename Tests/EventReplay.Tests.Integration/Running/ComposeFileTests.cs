using System.Diagnostics;
using System.Text.RegularExpressions;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Running;

/// <summary>
/// docker-compose.yml is never run on these machines (no Docker engine), so docker-compose (Debian's 1.29, installed by
/// eng/services.sh) validates it without one: the file cannot rot unnoticed.
/// </summary>
public partial class ComposeFileTests
{
    private static readonly string ComposeFile = Path.Combine(TestEnvironment.RepoRoot, "docker-compose.yml");

    [Test]
    public async Task Docker_compose_accepts_docker_compose_yml()
    {
        var (exitCode, _, error) = await DockerComposeAsync("config", "--quiet");

        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.Zero, error);
            Assert.That(error, Does.Not.Contain("WARN"), "warnings");
        });
    }

    [Test]
    public async Task Every_service_in_docker_compose_yml_restarts_when_it_exits()
    {
        var (exitCode, output, error) = await DockerComposeAsync("config");
        var (servicesExitCode, services, servicesError) = await DockerComposeAsync("config", "--services");
        Assert.That((exitCode, servicesExitCode), Is.EqualTo((0, 0)), error + servicesError);

        var policies = RestartPolicies(output);

        Assert.Multiple(() =>
        {
            Assert.That(policies.Keys, Is.EquivalentTo(services.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
            foreach (var (service, policy) in policies)
            {
                Assert.That(policy, Is.EqualTo("unless-stopped"), service);
            }
        });
    }

    /// <summary>Each service's restart policy (null when it has none) from the configuration as docker-compose prints it.</summary>
    private static Dictionary<string, string?> RestartPolicies(string config)
    {
        // docker-compose config prints the resolved file in a fixed shape: services at two spaces under "services:",
        // their keys at four, so a line scan reads it without a YAML parser.
        var policies = new Dictionary<string, string?>();
        string? service = null;
        var inServices = false;
        foreach (var line in config.Split('\n'))
        {
            if (!line.StartsWith(' '))
            {
                inServices = line == "services:";
                continue;
            }

            if (!inServices)
            {
                continue;
            }

            if (ServiceLine().Match(line) is { Success: true } name)
            {
                service = name.Groups[1].Value;
                policies[service] = null;
            }
            else if (service is not null && RestartLine().Match(line) is { Success: true } restart)
            {
                policies[service] = restart.Groups[1].Value.Trim('\'', '"');
            }
        }

        return policies;
    }

    private static async Task<(int ExitCode, string Output, string Error)> DockerComposeAsync(params string[] arguments)
    {
        var executable = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')
            .Select(folder => Path.Combine(folder, "docker-compose"))
            .FirstOrDefault(File.Exists);
        if (executable is null)
        {
            Assert.Fail("docker-compose is not installed: eng/services.sh start installs it (as root; on Debian: apt-get install --no-install-recommends docker-compose).");
        }

        using var process = Process.Start(new ProcessStartInfo(executable!, ["--file", ComposeFile, .. arguments])
        {
            WorkingDirectory = TestEnvironment.RepoRoot,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output, error);
    }

    [GeneratedRegex(@"^  ([A-Za-z0-9._-]+):$")]
    private static partial Regex ServiceLine();

    [GeneratedRegex(@"^    restart: (\S+)$")]
    private static partial Regex RestartLine();
}
