using System.Diagnostics;
using System.Text.RegularExpressions;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Security;

/// <summary>
/// No password, key or token is in a committed file: the local system's passwords are made into .local/secrets/ by
/// eng/services.sh (eng/secrets.sh), and services, scripts and tests read them from there. Every file git tracks is
/// searched for credentials written out (in connection strings, URLs, settings, SQL, keys, signed tokens) and for the
/// values of the local secrets themselves.
/// </summary>
public sealed partial class CommittedCredentialTests
{
    [Test]
    public async Task No_tracked_file_holds_a_credential()
    {
        var files = await TrackedFilesAsync();
        var secrets = LocalSecretValues();
        var findings = new List<string>();
        // This file alone holds credentials on purpose: the made-up samples the patterns are tested on.
        foreach (var file in files.Where(file => file != ThisFile))
        {
            if (ReadText(Path.Combine(TestEnvironment.RepoRoot, file)) is not { } text)
            {
                continue;
            }

            findings.AddRange(Scan(text).Select(finding => $"{file}: {finding}"));
            findings.AddRange(secrets.Where(secret => text.Contains(secret.Value, StringComparison.Ordinal))
                .Select(secret => $"{file}: the value of .local/secrets/{secret.Name}"));
        }

        Assert.Multiple(() =>
        {
            Assert.That(files, Has.Count.GreaterThan(100), "git ls-files listed the repository");
            Assert.That(files, Does.Contain(ThisFile));
            Assert.That(secrets, Is.Not.Empty, "the local secrets eng/services.sh makes");
            Assert.That(findings, Is.Empty);
        });
    }

    private const string ThisFile = "Tests/EventReplay.Tests.Integration/Security/CommittedCredentialTests.cs";

    // What a credential written out looks like, each caught.
    [TestCase("\"eventstore\": \"Host=db;Username=app;Password=hunter2;Database=x\"")]
    [TestCase("ConnectionStrings__rabbitmq: \"amqp://app:hunter2@rabbitmq:5672/\"")]
    [TestCase("export ER_REDIS_URL=redis://default:hunter2@127.0.0.1:6379/0")]
    [TestCase("\"redis\": \"cache:6379,user=er-balances,password=hunter2,defaultDatabase=0\"")]
    [TestCase("psql postgresql://owner:hunter2@127.0.0.1:5432/eventreplay")]
    [TestCase("export PGPASSWORD=hunter2")]
    [TestCase("      POSTGRES_PASSWORD: hunter2")]
    [TestCase("      RABBITMQ_DEFAULT_PASS: hunter2")]
    [TestCase("default_pass = hunter2")]
    [TestCase("create role app login password 'hunter2'")]
    [TestCase("requirepass hunter2")]
    [TestCase("user er-balances on >hunter2 ~balances:* +@all")]
    [TestCase("-----BEGIN PRIVATE KEY-----")]
    [TestCase("-----BEGIN EC PRIVATE KEY-----")]
    [TestCase("Authorization: Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.MEUCIQDx3Lk9Vb2wZ7Ydq1cM0s")]
    public void A_credential_written_out_is_found(string line) =>
        Assert.That(Scan(line), Is.Not.Empty);

    // What names a credential without holding one passes.
    [TestCase("Host=127.0.0.1;Port=5433;Database=eventreplay;Username=eventreplay;Timeout=3")]
    [TestCase("echo \"amqp://$1:$(broker_password \"$1\")@$2/\"")]
    [TestCase("$\"amqp://eventreplay:{LocalSecret(\"rabbitmq/eventreplay\")}@127.0.0.1:5672/\"")]
    [TestCase("//           --rabbit-management http://user:pass@host:15672/vhost")]
    [TestCase("PGPASSWORD=$PG_PASS psql -h 127.0.0.1")]
    [TestCase("cache.internal:6379,user=app,password=PASSWORD,defaultDatabase=0")]
    [TestCase("$\"127.0.0.1:6379,user=eventreplay,password={LocalSecret(\"redis/eventreplay\")},defaultDatabase=1\"")]
    [TestCase("      POSTGRES_PASSWORD_FILE: /run/secrets/postgres_password")]
    [TestCase("default_pass = $(broker_password eventreplay)")]
    [TestCase("create role eventreplay login createdb password '$(secret postgres/eventreplay)'")]
    [TestCase("new UriBuilder(url) { Password = Uri.EscapeDataString(Password(user)) }")]
    [TestCase("Authorization: Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.")]
    [TestCase("-----BEGIN PUBLIC KEY-----")]
    public void A_reference_to_a_credential_passes(string line) =>
        Assert.That(Scan(line), Is.Empty);

    /// <summary>What in <paramref name="text"/> looks like a credential written out, one line each.</summary>
    private static IEnumerable<string> Scan(string text)
    {
        foreach (var pattern in Patterns)
        {
            foreach (Match match in pattern.Regex.Matches(text))
            {
                if (!Placeholder().IsMatch(match.Groups["value"].Value))
                {
                    yield return $"{pattern.Kind} at character {match.Index}";
                }
            }
        }
    }

    // A value that is code or a variable (starts with $, {, ( or a quote) is not matched; "value" is what is checked
    // against the placeholders.
    private static readonly (string Kind, Regex Regex)[] Patterns =
    [
        ("a password in a connection string", new(@"(?<![A-Za-z_])(?i:password)=(?<value>[^;,""'\s$\{(][^;,""'\s]*)")),
        ("a password in a URL", new(@"\b[a-z][a-z0-9+.-]*://[^/\s:@""'$\{]+:(?<value>[^@\s/""'$\{(][^@\s/""']*)@")),
        ("a password setting", new(@"\b(?:PGPASSWORD|POSTGRES_PASSWORD|RABBITMQ_DEFAULT_PASS|REDIS_PASSWORD)\s*[=:]\s*(?<value>[^\s""'$\{(]\S*)")),
        ("RabbitMQ's default_pass", new(@"\bdefault_pass\s*=\s*(?<value>[^\s$\{(]\S*)")),
        ("a password in SQL", new(@"(?i:\bpassword)\s+'(?<value>[^'$\{(][^']*)'")),
        ("Redis's requirepass", new(@"\brequirepass\s+(?<value>[^\s""'$\{(]\S*)")),
        ("a Redis ACL password", new(@"\buser\s+\S+\s+on\b[^\n]*\s>(?<value>[^\s$\{(]\S*)")),
        ("a private key", new(@"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----(?<value>)")),
        ("a signed token", new(@"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.(?<value>[A-Za-z0-9_-]{16,})")),
    ];

    [GeneratedRegex("^(?:pass|password|PASSWORD|PASS|secret|\\*+|\\.\\.\\.)$")]
    private static partial Regex Placeholder();

    private static async Task<List<string>> TrackedFilesAsync()
    {
        using var git = Process.Start(new ProcessStartInfo("git", ["ls-files", "-z"])
        {
            WorkingDirectory = TestEnvironment.RepoRoot,
            RedirectStandardOutput = true,
        })!;
        var output = await git.StandardOutput.ReadToEndAsync();
        await git.WaitForExitAsync();
        Assert.That(git.ExitCode, Is.Zero, "git ls-files");
        return [.. output.Split('\0', StringSplitOptions.RemoveEmptyEntries)];
    }

    /// <summary>The file's text, or null for a binary file (a NUL in its first 8 KiB), one that is gone, or a large one.</summary>
    private static string? ReadText(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists || info.Length > 4 * 1024 * 1024)
        {
            return null;
        }

        var bytes = File.ReadAllBytes(path);
        return Array.IndexOf(bytes, (byte)0, 0, Math.Min(bytes.Length, 8192)) >= 0 ? null : System.Text.Encoding.UTF8.GetString(bytes);
    }

    /// <summary>Every password of .local/secrets (the first line of each file that is not a key or a URL).</summary>
    private static List<(string Name, string Value)> LocalSecretValues()
    {
        var root = Path.Combine(TestEnvironment.RepoRoot, ".local", "secrets");
        return [.. Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Where(file => !file.EndsWith(".pem", StringComparison.Ordinal) && !file.EndsWith(".url", StringComparison.Ordinal)
                && !file.EndsWith(".json", StringComparison.Ordinal) && !Path.GetFileName(file).StartsWith("pgpass", StringComparison.Ordinal)
                && !file.EndsWith(".acl", StringComparison.Ordinal))
            .Select(file => (Name: Path.GetRelativePath(root, file), Value: File.ReadLines(file).FirstOrDefault()?.Trim() ?? ""))
            .Where(secret => secret.Value.Length >= 16)];
    }
}
