using EventReplay.Hosting.Security;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;

namespace EventReplay.Monitor.Pages;

/// <summary>
/// The console's sign-in: takes a token, checks it as every request will be checked (the bearer scheme's own
/// validation), and keeps it in the console's cookie (HttpOnly, SameSite=Strict, for <c>/console</c> only, until the
/// token expires). Sign-out forgets it.
/// </summary>
[AllowAnonymous]
public sealed class SignInModel(IOptionsMonitor<JwtBearerOptions> bearer, AuthOptions auth) : PageModel
{
    [BindProperty(SupportsGet = true)]
    public string? ReturnUrl { get; set; }

    public string? Error { get; private set; }

    public string? Authority => auth.Authority;

    public void OnGet()
    {
    }

    public async Task<IActionResult> OnPostAsync([FromForm] string? token)
    {
        token = token?.Trim();
        var options = bearer.Get(JwtBearerDefaults.AuthenticationScheme);
        var parameters = options.TokenValidationParameters.Clone();
        if (options.ConfigurationManager is { } configuration)
        {
            // An authority's signing keys and issuer, as the bearer scheme reads them.
            var metadata = await configuration.GetConfigurationAsync(HttpContext.RequestAborted);
            parameters.IssuerSigningKeys = metadata.SigningKeys;
            parameters.ValidIssuer ??= metadata.Issuer;
        }

        var result = string.IsNullOrEmpty(token) || token.Length > 16_384
            ? null
            : await new JsonWebTokenHandler { MapInboundClaims = false }.ValidateTokenAsync(token, parameters);
        if (result is not { IsValid: true, SecurityToken: JsonWebToken valid })
        {
            Error = $"That token was not accepted: {result?.Exception?.Message ?? "none was given."}";
            Response.StatusCode = StatusCodes.Status400BadRequest;
            return Page();
        }

        Response.Cookies.Append(TokenAuth.ConsoleCookie, token!, new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Strict,
            Secure = Request.IsHttps,
            Path = TokenAuth.ConsolePath,
            Expires = valid.ValidTo,
        });
        return LocalRedirect(ReturnUrl is { } back && back.StartsWith(TokenAuth.ConsolePath, StringComparison.Ordinal) && Url.IsLocalUrl(back)
            ? back : TokenAuth.ConsolePath);
    }

    public IActionResult OnPostSignOut()
    {
        Response.Cookies.Delete(TokenAuth.ConsoleCookie, new CookieOptions { Path = TokenAuth.ConsolePath });
        return LocalRedirect(TokenAuth.SignInPath);
    }
}
