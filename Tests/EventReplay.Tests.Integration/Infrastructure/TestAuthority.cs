using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>
/// An OpenID Connect authority for the tests, on a loopback port of the test process: discovery, its signing key (ES256),
/// the authorization endpoint (every request is one person's, who consents at once: the code comes straight back) and the
/// token endpoint (authorization code with PKCE, a confidential client's secret). It issues an ID token for the client and
/// an access token for <see cref="Audience"/> with the person's <c>roles</c>, as an authority set up for this system would.
/// </summary>
public sealed class TestAuthority : IAsyncDisposable
{
    public const string ClientId = "eventreplay-console";

    public const string Audience = "eventreplay-api";

    private readonly ECDsa _signing = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly ConcurrentDictionary<string, Grant> _grants = new();
    private WebApplication? _app;

    private sealed record Grant(string RedirectUri, string? Nonce, string Challenge);

    public string ClientSecret { get; } = Convert.ToHexString(RandomNumberGenerator.GetBytes(24));

    /// <summary>Who signs in, and with which roles.</summary>
    public (string Subject, string Name, string[] Roles) Person { get; set; } = ("grace", "Grace Hopper", ["operator"]);

    /// <summary>The audience of the access tokens it issues (another one: an authority set up for something else).</summary>
    public string AccessTokenAudience { get; set; } = Audience;

    public string Issuer { get; private set; } = "";

    public static async Task<TestAuthority> StartAsync()
    {
        var authority = new TestAuthority();
        await authority.RunAsync();
        return authority;
    }

    /// <summary>What a service needs to take this authority's tokens, and the console to sign in at it.</summary>
    public IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["Auth__Authority"] = Issuer,
        ["Auth__Audience"] = Audience,
        ["Auth__RequireHttpsMetadata"] = "false",
        ["Auth__Console__ClientId"] = ClientId,
        ["Auth__Console__ClientSecret"] = ClientSecret,
    };

    private async Task RunAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        _app = builder.Build();
        var key = new ECDsaSecurityKey(_signing) { KeyId = "test-authority" };
        var credentials = new SigningCredentials(key, SecurityAlgorithms.EcdsaSha256);
        _app.MapGet("/.well-known/openid-configuration", () => Results.Json(new Dictionary<string, object>
        {
            ["issuer"] = Issuer,
            ["authorization_endpoint"] = $"{Issuer}/authorize",
            ["token_endpoint"] = $"{Issuer}/token",
            ["jwks_uri"] = $"{Issuer}/jwks",
            ["response_types_supported"] = new[] { "code" },
            ["response_modes_supported"] = new[] { "query" },
            ["subject_types_supported"] = new[] { "public" },
            ["id_token_signing_alg_values_supported"] = new[] { "ES256" },
            ["code_challenge_methods_supported"] = new[] { "S256" },
            ["token_endpoint_auth_methods_supported"] = new[] { "client_secret_post", "client_secret_basic" },
        }));
        _app.MapGet("/jwks", () =>
        {
            var point = _signing.ExportParameters(includePrivateParameters: false).Q;
            return Results.Json(new
            {
                keys = new[]
                {
                    new { kty = "EC", crv = "P-256", use = "sig", alg = "ES256", kid = key.KeyId, x = Base64UrlEncoder.Encode(point.X), y = Base64UrlEncoder.Encode(point.Y) },
                },
            });
        });
        _app.MapGet("/authorize", (HttpRequest request) =>
        {
            var query = request.Query;
            if (query["client_id"] != ClientId || query["response_type"] != "code" || query["code_challenge_method"] != "S256"
                || string.IsNullOrEmpty(query["redirect_uri"]) || string.IsNullOrEmpty(query["code_challenge"]))
            {
                return Results.BadRequest(new { error = "invalid_request" });
            }

            var code = Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(24));
            _grants[code] = new Grant(query["redirect_uri"]!, query["nonce"], query["code_challenge"]!);
            return Results.Redirect($"{query["redirect_uri"]}?code={code}&state={Uri.EscapeDataString(query["state"].ToString())}");
        });
        _app.MapPost("/token", async (HttpRequest request) =>
        {
            var form = await request.ReadFormAsync();
            var (clientId, secret) = (form["client_id"].ToString(), form["client_secret"].ToString());
            if (request.Headers.Authorization.ToString() is { Length: > 6 } basic && basic.StartsWith("Basic ", StringComparison.Ordinal))
            {
                var pair = Encoding.UTF8.GetString(Convert.FromBase64String(basic[6..])).Split(':', 2);
                (clientId, secret) = (Uri.UnescapeDataString(pair[0]), Uri.UnescapeDataString(pair[1]));
            }

            if (clientId != ClientId || secret != ClientSecret)
            {
                return Results.Json(new { error = "invalid_client" }, statusCode: 401);
            }

            if (form["grant_type"] != "authorization_code" || !_grants.TryRemove(form["code"].ToString(), out var grant)
                || grant.RedirectUri != form["redirect_uri"]
                || Base64UrlEncoder.Encode(SHA256.HashData(Encoding.ASCII.GetBytes(form["code_verifier"].ToString()))) != grant.Challenge)
            {
                return Results.Json(new { error = "invalid_grant" }, statusCode: 400);
            }

            var handler = new JsonWebTokenHandler();
            var now = DateTime.UtcNow;
            var access = handler.CreateToken(new SecurityTokenDescriptor
            {
                Issuer = Issuer, Audience = AccessTokenAudience, IssuedAt = now, NotBefore = now, Expires = now.AddHours(1),
                SigningCredentials = credentials,
                Claims = new Dictionary<string, object> { ["sub"] = Person.Subject, ["name"] = Person.Name, ["roles"] = Person.Roles },
            });
            var identity = new Dictionary<string, object> { ["sub"] = Person.Subject, ["name"] = Person.Name };
            if (grant.Nonce is { } nonce)
            {
                identity["nonce"] = nonce;
            }

            var id = handler.CreateToken(new SecurityTokenDescriptor
            {
                Issuer = Issuer, Audience = ClientId, IssuedAt = now, NotBefore = now, Expires = now.AddMinutes(5),
                SigningCredentials = credentials, Claims = identity,
            });
            return Results.Json(new { access_token = access, id_token = id, token_type = "Bearer", expires_in = 3600 });
        });
        await _app.StartAsync();
        Issuer = _app.Urls.Single().TrimEnd('/');
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }

        _signing.Dispose();
    }
}
