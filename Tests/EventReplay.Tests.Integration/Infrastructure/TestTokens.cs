using System.Net.Http.Headers;
using EventReplay.Security;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>
/// Tokens of the local signing key that <c>eng/services.sh</c> made under <c>.local/secrets/</c> (the services the tests
/// start validate with its public half), as <c>eng/eventreplay token</c> mints them.
/// </summary>
public static class TestTokens
{
    public static string PrivateKeyFile { get; } = Path.Combine(TestEnvironment.RepoRoot, ".local", "secrets", LocalTokens.PrivateKeyFile);

    public static string PublicKeyFile { get; } = Path.Combine(TestEnvironment.RepoRoot, ".local", "secrets", LocalTokens.PublicKeyFile);

    private static readonly Lazy<Microsoft.IdentityModel.Tokens.SecurityKey> Key = new(() => File.Exists(PrivateKeyFile)
        ? LocalTokens.LoadKey(PrivateKeyFile)
        : throw new FileNotFoundException($"{PrivateKeyFile} is missing: run eng/services.sh start (it makes the local signing key)."));

    /// <summary>A token for <paramref name="name"/> with <paramref name="roles"/>, valid for the rest of the run.</summary>
    public static string For(string name, params string[] roles) => LocalTokens.Mint(Key.Value, name, roles, TimeSpan.FromHours(12));

    /// <summary>A token of every role: what the tests' clients send unless a test is about who may call what.</summary>
    public static string Everyone { get; } = For("tests", [.. Roles.All]);

    /// <summary>A token signed by the local key with any lifetime, issuer or audience (tokens that must be refused).</summary>
    public static string Custom(string name, string[] roles, TimeSpan lifetime, DateTime notBefore, string issuer = LocalTokens.Issuer,
        string audience = LocalTokens.Audience) => LocalTokens.Mint(Key.Value, name, roles, lifetime, notBefore, issuer, audience);

    public static HttpClient Authorized(HttpClient client, string? token = null)
    {
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token ?? Everyone);
        return client;
    }
}
