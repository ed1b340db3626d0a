using EventReplay.Security;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.Tokens;

namespace EventReplay.Hosting.Security;

/// <summary>Where tokens come from (<c>Auth</c>): an OpenID Connect authority, or the local signing key.</summary>
public sealed class AuthOptions
{
    /// <summary>An OpenID Connect authority (its discovery document names the signing keys and issuer).</summary>
    public string? Authority { get; set; }

    /// <summary>The audience tokens must name: required with an authority; <see cref="LocalTokens.Audience"/> locally.</summary>
    public string? Audience { get; set; }

    /// <summary>Without an authority: the public half of the local signing key (PEM), <c>.local/secrets/token-signing.pub.pem</c>.</summary>
    public string? SigningKeyFile { get; set; }

    /// <summary>Whether the authority's metadata must come over HTTPS (true unless said otherwise, e.g. for a test authority).</summary>
    public bool RequireHttpsMetadata { get; set; } = true;
}

/// <summary>
/// Bearer tokens (JWT) on every route, validated by the gateway and again by every service: a request that bypasses the
/// gateway gains nothing. Every route needs a valid token unless it says otherwise (health and the OpenAPI document
/// allow anyone); routes name a policy of <see cref="Policies"/>. No token or an invalid one is a 401 with
/// <c>WWW-Authenticate: Bearer</c>, a token without the role a 403, both as problem details. The console (paths under
/// <c>/console</c>) also takes the token from its HttpOnly cookie, and a page asked for without one goes to its sign-in page.
/// </summary>
public static class TokenAuth
{
    /// <summary>The console's cookie: the token itself, HttpOnly and SameSite=Strict, sent only to <c>/console</c>.</summary>
    public const string ConsoleCookie = "eventreplay_token";

    public const string ConsolePath = "/console";

    public const string SignInPath = "/console/sign-in";

    public static WebApplicationBuilder AddTokenAuth(this WebApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection("Auth").Get<AuthOptions>() ?? new AuthOptions();
        if (string.IsNullOrWhiteSpace(options.Authority) && string.IsNullOrWhiteSpace(options.SigningKeyFile))
        {
            throw new InvalidOperationException(
                "Auth:Authority (an OpenID Connect authority, with Auth:Audience) or Auth:SigningKeyFile (the local signing key's public half, "
                + "made by eng/services.sh under .local/secrets/) is required: no service runs without checking who calls it.");
        }

        builder.Services.AddSingleton(options);
        builder.Services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme).AddJwtBearer(jwt =>
        {
            // Claims keep their JWT names ("sub", "name", "roles") instead of being renamed to long URIs.
            jwt.MapInboundClaims = false;
            jwt.TokenHandlers.Clear();
            jwt.TokenHandlers.Add(new ValidatedTokenCache(TimeProvider.System) { MapInboundClaims = false });
            // Kept with the request's identity: a service that calls another on the caller's behalf passes it on.
            jwt.SaveToken = true;
            jwt.TokenValidationParameters = new TokenValidationParameters
            {
                NameClaimType = LocalTokens.NameClaim,
                RoleClaimType = Roles.ClaimType,
                ValidateIssuer = true,
                ValidateAudience = true,
                ValidateLifetime = true,
                ValidateIssuerSigningKey = true,
                RequireExpirationTime = true,
                RequireSignedTokens = true,
                ClockSkew = TimeSpan.FromSeconds(30),
                // Asymmetric signatures only: never "none", never an HMAC made with a public key.
                ValidAlgorithms = [SecurityAlgorithms.EcdsaSha256, SecurityAlgorithms.EcdsaSha384, SecurityAlgorithms.RsaSha256,
                    SecurityAlgorithms.RsaSsaPssSha256],
            };
            if (!string.IsNullOrWhiteSpace(options.Authority))
            {
                jwt.Authority = options.Authority;
                jwt.RequireHttpsMetadata = options.RequireHttpsMetadata;
                jwt.TokenValidationParameters.ValidAudience = options.Audience
                    ?? throw new InvalidOperationException("Auth:Audience is required with Auth:Authority.");
            }
            else
            {
                jwt.TokenValidationParameters.ValidIssuer = LocalTokens.Issuer;
                jwt.TokenValidationParameters.ValidAudience = options.Audience ?? LocalTokens.Audience;
                jwt.TokenValidationParameters.IssuerSigningKey = LocalTokens.LoadKey(options.SigningKeyFile!);
            }

            jwt.Events = new JwtBearerEvents
            {
                OnMessageReceived = context =>
                {
                    if (IsConsole(context.Request) && !context.Request.Headers.ContainsKey("Authorization")
                        && context.Request.Cookies.TryGetValue(ConsoleCookie, out var token))
                    {
                        context.Token = token;
                    }

                    return Task.CompletedTask;
                },
                OnChallenge = context =>
                {
                    // A console page asked for by a browser without a valid token: to the sign-in page, then back.
                    if (IsConsole(context.Request) && HttpMethods.IsGet(context.Request.Method)
                        && !context.Request.Path.StartsWithSegments(SignInPath) && !context.Request.Headers.ContainsKey("HX-Request")
                        && context.Request.Headers.Accept.ToString().Contains("text/html", StringComparison.OrdinalIgnoreCase))
                    {
                        context.HandleResponse();
                        context.Response.Redirect(SignInPath + QueryString.Create("returnUrl",
                            context.Request.PathBase + context.Request.Path + context.Request.QueryString));
                    }

                    return Task.CompletedTask;
                },
            };
        });
        builder.Services.AddHostedService<TokenWarmUp>();
        builder.Services.AddAuthorizationBuilder()
            .SetFallbackPolicy(new AuthorizationPolicyBuilder(JwtBearerDefaults.AuthenticationScheme).RequireAuthenticatedUser().Build())
            .AddPolicy(Policies.Read, policy => policy.RequireAuthenticatedUser().RequireRole(Policies.RolesOf(Policies.Read)))
            .AddPolicy(Policies.Write, policy => policy.RequireAuthenticatedUser().RequireRole(Policies.RolesOf(Policies.Write)))
            .AddPolicy(Policies.Operate, policy => policy.RequireAuthenticatedUser().RequireRole(Policies.RolesOf(Policies.Operate)));
        return builder;
    }

    public static bool IsConsole(HttpRequest request) => request.Path.StartsWithSegments(ConsolePath);

    /// <summary>The token the request was authenticated with, to call another service on the caller's behalf.</summary>
    public static Task<string?> BearerTokenAsync(this HttpContext http) =>
        Microsoft.AspNetCore.Authentication.AuthenticationHttpContextExtensions.GetTokenAsync(http, JwtBearerDefaults.AuthenticationScheme,
            "access_token");

    /// <summary>The caller as the audit records it: the token's name, else its subject.</summary>
    public static string Actor(this HttpContext http) =>
        http.User.Identity?.Name ?? http.User.FindFirst("sub")?.Value ?? "anonymous";
}
