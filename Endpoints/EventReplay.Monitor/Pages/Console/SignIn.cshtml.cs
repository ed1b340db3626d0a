using EventReplay.Hosting.Security;
using EventReplay.Monitor.Console;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace EventReplay.Monitor.Pages;

/// <summary>
/// The console's sign-in. With an OpenID Connect client configured (<see cref="ConsoleSignIn"/>), it sends the browser
/// to the authority. Otherwise it takes a token, checks it as every request will be checked (the bearer scheme's own
/// validation), and keeps it in the console's cookie (HttpOnly, SameSite=Strict, for <c>/console</c> only, until the
/// token expires). Sign-out forgets it.
/// </summary>
[AllowAnonymous]
public sealed class SignInModel(ConsoleSession session, AuthOptions auth) : PageModel
{
    [BindProperty(SupportsGet = true)]
    public string? ReturnUrl { get; set; }

    public string? Error { get; private set; }

    public string? Authority => auth.Authority;

    public IActionResult OnGet() =>
        ConsoleSignIn.AtAuthority(HttpContext.RequestServices)
            ? Challenge(new AuthenticationProperties { RedirectUri = ConsoleSession.Back(ReturnUrl) }, ConsoleSignIn.Scheme)
            : Page();

    public async Task<IActionResult> OnPostAsync([FromForm] string? token)
    {
        token = token?.Trim();
        var (valid, error) = await session.CheckAsync(token, HttpContext.RequestAborted);
        if (valid is null)
        {
            Error = $"That token was not accepted: {error}";
            Response.StatusCode = StatusCodes.Status400BadRequest;
            return Page();
        }

        ConsoleSession.Keep(HttpContext, token!, valid);
        return LocalRedirect(ConsoleSession.Back(ReturnUrl));
    }

    public IActionResult OnPostSignOut()
    {
        Response.Cookies.Delete(TokenAuth.ConsoleCookie, new CookieOptions { Path = TokenAuth.ConsolePath });
        return LocalRedirect(TokenAuth.SignInPath);
    }
}
