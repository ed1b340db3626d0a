using System.Security.Cryptography;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace EventReplay.Security;

/// <summary>
/// Tokens of the local signing key, for a system without an OpenID Connect authority (<c>eng/run.sh</c>, the tests):
/// an ECDSA P-256 key pair under <c>.local/secrets/</c> (<see cref="PrivateKeyFile"/>, mode 0600, which only whoever
/// mints tokens reads; <see cref="PublicKeyFile"/>, which the services validate with). Tokens are ES256 JWTs from
/// <see cref="Issuer"/> for <see cref="Audience"/>, naming their subject and roles.
/// </summary>
public static class LocalTokens
{
    public const string Issuer = "eventreplay-local";

    public const string Audience = "eventreplay";

    public const string PrivateKeyFile = "token-signing.pem";

    public const string PublicKeyFile = "token-signing.pub.pem";

    public const string NameClaim = "name";

    /// <summary>The key in a PEM file (private or public).</summary>
    public static ECDsaSecurityKey LoadKey(string pemFile)
    {
        var key = ECDsa.Create();
        key.ImportFromPem(File.ReadAllText(pemFile));
        return new ECDsaSecurityKey(key) { KeyId = KeyId(key) };
    }

    /// <summary>
    /// A token for <paramref name="name"/> (its subject and name) with <paramref name="roles"/>, valid from now for
    /// <paramref name="lifetime"/> (or from <paramref name="notBefore"/>, for tests of tokens not yet or no longer valid).
    /// </summary>
    public static string Mint(SecurityKey key, string name, IEnumerable<string> roles, TimeSpan lifetime, DateTime? notBefore = null,
        string issuer = Issuer, string audience = Audience)
    {
        var from = notBefore ?? DateTime.UtcNow;
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer,
            Audience = audience,
            IssuedAt = from,
            NotBefore = from,
            Expires = from + lifetime,
            Claims = new Dictionary<string, object>
            {
                ["sub"] = name,
                [NameClaim] = name,
                [Roles.ClaimType] = roles.ToArray(),
                ["jti"] = Guid.NewGuid().ToString("N"),
            },
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.EcdsaSha256),
        });
    }

    /// <summary>
    /// The private key of the repository a tool runs in (<c>.local/secrets/token-signing.pem</c>, looked for from the
    /// working directory up, then from the program's folder up), if there is one.
    /// </summary>
    public static string? FindPrivateKeyFile()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var directory = new DirectoryInfo(start); directory is not null; directory = directory.Parent)
            {
                var file = Path.Combine(directory.FullName, ".local", "secrets", PrivateKeyFile);
                if (File.Exists(file))
                {
                    return file;
                }
            }
        }

        return null;
    }

    /// <summary>
    /// The token a tool sends: the one given (<c>--token</c>, <c>EVENTREPLAY_TOKEN</c>), else one of the repository's
    /// local key for the user running it with <paramref name="roles"/>, else none (the API then answers 401).
    /// </summary>
    public static string? ForTool(string? given, IEnumerable<string> roles, TimeSpan lifetime) =>
        !string.IsNullOrWhiteSpace(given) ? given.Trim()
        : FindPrivateKeyFile() is { } file ? Mint(LoadKey(file), Environment.UserName, roles, lifetime)
        : null;

    // The key's id: the start of its public key's SHA-256, so tokens name the key that signed them.
    private static string KeyId(ECDsa key) => Convert.ToHexStringLower(SHA256.HashData(key.ExportSubjectPublicKeyInfo()))[..16];
}
