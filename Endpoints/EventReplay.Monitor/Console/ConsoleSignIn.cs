using System.Net;
using EventReplay.Hosting.Security;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;

namespace EventReplay.Monitor.Console;

/// <summary>The console as an OpenID Connect client of the authority (<c>Auth:Console</c>): used when a client id is given.</summary>
public sealed class ConsoleClientOptions
{
    public string? ClientId { get; set; }

    /// <summary>A confidential client's secret (<c>Auth__Console__ClientSecret_FILE</c> names a file holding it).</summary>
    public string? ClientSecret { get; set; }

    /// <summary>The scopes asked for, separated by spaces: those that make the authority issue an access token for this system.</summary>
    public string Scopes { get; set; } = "openid profile";
}

/// <summary>
/// How a person gets into the console. Locally, the sign-in page takes a minted token. With an OpenID Connect authority
/// (<c>Auth:Authority</c>) and a client (<c>Auth:Console:ClientId</c>), the sign-in page sends the browser to the
/// authority (authorization code with PKCE) and back to <c>/console/signin-oidc</c>; the access token the authority
/// issues is checked as every request will check it and kept as the local sign-in keeps a pasted one: in the console's
/// cookie (HttpOnly, SameSite=Strict, for <c>/console</c> only, until the token expires). The way back from the
/// authority is a page that moves on by itself: a navigation that began on the authority's site would not carry a
/// SameSite=Strict cookie, one that begins on the console's own page does.
/// </summary>
public static class ConsoleSignIn
{
    public const string Scheme = OpenIdConnectDefaults.AuthenticationScheme;

    public const string CallbackPath = "/console/signin-oidc";

    // The OpenID Connect handler wants a scheme to sign in with; the console never signs in with it (the token is the session).
    private const string HandoffScheme = "console-oidc";

    public static WebApplicationBuilder AddConsoleSignIn(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ConsoleSession>();
        var auth = builder.Configuration.GetSection("Auth").Get<AuthOptions>() ?? new AuthOptions();
        var client = builder.Configuration.GetSection("Auth:Console").Get<ConsoleClientOptions>() ?? new ConsoleClientOptions();
        if (string.IsNullOrWhiteSpace(auth.Authority) || string.IsNullOrWhiteSpace(client.ClientId))
        {
            return builder;
        }

        builder.Services.AddAuthentication()
            .AddCookie(HandoffScheme, cookie => cookie.Cookie.Path = TokenAuth.ConsolePath)
            .AddOpenIdConnect(Scheme, oidc =>
            {
                oidc.Authority = auth.Authority;
                oidc.RequireHttpsMetadata = auth.RequireHttpsMetadata;
                oidc.ClientId = client.ClientId;
                oidc.ClientSecret = client.ClientSecret;
                oidc.ResponseType = OpenIdConnectResponseType.Code;
                oidc.ResponseMode = OpenIdConnectResponseMode.Query;
                oidc.UsePkce = true;
                oidc.CallbackPath = CallbackPath;
                oidc.SignInScheme = HandoffScheme;
                oidc.SaveTokens = true;
                oidc.MapInboundClaims = false;
                oidc.GetClaimsFromUserInfoEndpoint = false;
                // The authority sends the browser back with a plain top-level GET (response mode query): Lax is enough for
                // the handler's correlation and nonce cookies, which then need not be Secure (None would): they come
                // back over plain HTTP too (a console on loopback), and over HTTPS they are Secure.
                foreach (var cookie in new[] { oidc.CorrelationCookie, oidc.NonceCookie })
                {
                    cookie.SameSite = SameSiteMode.Lax;
                    cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                }
                oidc.Scope.Clear();
                foreach (var scope in client.Scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    oidc.Scope.Add(scope);
                }

                oidc.Events.OnTicketReceived = KeepAccessTokenAsync;
                // A way back that is not one (no state, a forged or stale one, an error from the authority): said plainly, not a 500.
                oidc.Events.OnRemoteFailure = async context =>
                {
                    context.HandleResponse();
                    context.Response.StatusCode = StatusCodes.Status400BadRequest;
                    context.Response.ContentType = "text/html; charset=utf-8";
                    await context.Response.WriteAsync($"""
                        <!doctype html><title>Sign-in did not complete</title>
                        <p>Sign-in did not complete: {WebUtility.HtmlEncode(context.Failure?.Message)}</p>
                        <p><a href="{TokenAuth.SignInPath}">Sign in again</a></p>
                        """);
                };
            });
        builder.Services.AddSingleton(client);
        return builder;
    }

    /// <summary>
    /// Without an authority the way back from one is a plain 404 problem to anyone (the handler answers it otherwise, before
    /// any endpoint).
    /// </summary>
    public static WebApplication MapConsoleSignIn(this WebApplication app)
    {
        if (!AtAuthority(app.Services))
        {
            app.MapGet(CallbackPath, () => TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Not found",
                    detail: "This console signs in with a token pasted on its sign-in page: no OpenID Connect authority is configured."))
                .AllowAnonymous().ExcludeFromDescription();
        }

        return app;
    }

    /// <summary>Whether the console signs in at an authority (else it takes pasted tokens only).</summary>
    public static bool AtAuthority(IServiceProvider services) => services.GetService<ConsoleClientOptions>() is not null;

    // The authority's access token, checked, becomes the console's cookie; then on to where the person was going.
    private static async Task KeepAccessTokenAsync(TicketReceivedContext context)
    {
        context.HandleResponse();
        var response = context.Response;
        var token = context.Properties?.GetTokenValue("access_token");
        var session = context.HttpContext.RequestServices.GetRequiredService<ConsoleSession>();
        var (valid, error) = await session.CheckAsync(token, context.HttpContext.RequestAborted);
        response.ContentType = "text/html; charset=utf-8";
        if (valid is null)
        {
            // Not a loop back to the authority: the authority issued a token the services will not take (its audience,
            // issuer or roles are set up otherwise); say so.
            response.StatusCode = StatusCodes.Status403Forbidden;
            await response.WriteAsync($"""
                <!doctype html><title>Sign-in refused</title>
                <p>The authority's access token is not one this system takes: {WebUtility.HtmlEncode(error)}</p>
                <p><a href="{TokenAuth.SignInPath}">Sign in again</a></p>
                """);
            return;
        }

        ConsoleSession.Keep(context.HttpContext, token!, valid);
        var next = WebUtility.HtmlEncode(ConsoleSession.Back(context.ReturnUri));
        await response.WriteAsync($"""
            <!doctype html><title>Signed in</title>
            <meta http-equiv="refresh" content="0;url={next}">
            <p>Signed in. <a href="{next}">Continue</a></p>
            """);
    }
}

/// <summary>A token for the console: checked as the bearer scheme checks every request, then kept in the console's cookie.</summary>
public sealed class ConsoleSession(IOptionsMonitor<JwtBearerOptions> bearer)
{
    /// <summary>The token, valid (null and why not otherwise).</summary>
    public async Task<(JsonWebToken? Token, string? Error)> CheckAsync(string? token, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(token) || token.Length > 16_384)
        {
            return (null, "none was given.");
        }

        var options = bearer.Get(JwtBearerDefaults.AuthenticationScheme);
        var parameters = options.TokenValidationParameters.Clone();
        if (options.ConfigurationManager is { } configuration)
        {
            // An authority's signing keys and issuer, as the bearer scheme reads them.
            var metadata = await configuration.GetConfigurationAsync(cancellationToken);
            parameters.IssuerSigningKeys = metadata.SigningKeys;
            parameters.ValidIssuer ??= metadata.Issuer;
        }

        var result = await new JsonWebTokenHandler { MapInboundClaims = false }.ValidateTokenAsync(token, parameters);
        return result is { IsValid: true, SecurityToken: JsonWebToken valid }
            ? (valid, null)
            : (null, result.Exception?.Message ?? "not valid.");
    }

    /// <summary>The console's cookie: the token itself, HttpOnly and SameSite=Strict, sent only to <c>/console</c>, until it expires.</summary>
    public static void Keep(HttpContext http, string token, JsonWebToken valid) =>
        http.Response.Cookies.Append(TokenAuth.ConsoleCookie, token, new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Strict,
            Secure = http.Request.IsHttps,
            Path = TokenAuth.ConsolePath,
            Expires = valid.ValidTo,
        });

    /// <summary>Where to go after signing in: a console page named by the request, else the console's start.</summary>
    public static string Back(string? returnUrl) =>
        returnUrl is { } back && back.StartsWith(TokenAuth.ConsolePath, StringComparison.Ordinal)
        && (back.Length == TokenAuth.ConsolePath.Length || back[TokenAuth.ConsolePath.Length] is '/' or '?')
        && !back.Contains('\\', StringComparison.Ordinal) && Uri.IsWellFormedUriString(back, UriKind.Relative)
            ? back
            : TokenAuth.ConsolePath;
}
