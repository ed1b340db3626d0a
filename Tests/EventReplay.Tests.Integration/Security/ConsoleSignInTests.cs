using System.Net;
using System.Text.RegularExpressions;
using EventReplay.Security;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Security;

/// <summary>
/// The console with an OpenID Connect authority (the test's own, <see cref="TestAuthority"/>): a page asked for without
/// a token goes to the authority and back (authorization code with PKCE), the authority's access token becomes the
/// console's HttpOnly, SameSite=Strict cookie and the page answers with the person's name and role; the service then
/// takes that authority's tokens only; a way back that is not one, or a token for another audience, is said plainly and
/// keeps no cookie.
/// </summary>
public sealed partial class ConsoleSignInTests
{
    private TestAuthority _authority = null!;
    private ServiceProcess _monitor = null!;

    [OneTimeSetUp]
    public async Task StartMonitorAtAnAuthority()
    {
        _authority = await TestAuthority.StartAsync();
        var settings = new Dictionary<string, string>(TestEnvironment.ServiceConnections());
        foreach (var (name, value) in _authority.Settings)
        {
            settings[name] = value;
        }

        _monitor = new ServiceProcess("EventReplay.Monitor", settings);
        await _monitor.StartAsync();
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        await _monitor.DisposeAsync();
        await _authority.DisposeAsync();
    }

    [SetUp]
    public void SomeoneWithTheOperatorRole() => _authority.Person = ("grace", "Grace Hopper", [Roles.Operator]);

    [Test]
    public async Task A_page_without_a_token_signs_in_at_the_authority_and_comes_back_with_the_persons_token_in_the_cookie()
    {
        using var browser = Browser(out var cookies);
        var back = await SignInAsync(browser, "/console/replays");
        var page = await browser.SendAsync(Html(back.Next!));
        var token = cookies.GetCookies(ConsoleAddress).SingleOrDefault(c => c.Name == "eventreplay_token");
        using var api = new HttpClient { BaseAddress = _monitor.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        using var audit = new HttpRequestMessage(HttpMethod.Get, "/api/audit");
        audit.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token?.Value);
        using var withAuthorityToken = await api.SendAsync(audit);
        using var local = new HttpRequestMessage(HttpMethod.Get, "/api/audit");
        local.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", TestTokens.For("local", Roles.Operator));
        using var withLocalToken = await api.SendAsync(local);

        Assert.Multiple(async () =>
        {
            Assert.That(back.Status, Is.EqualTo(HttpStatusCode.OK), back.Body);
            Assert.That(back.Next, Is.EqualTo("/console/replays"), "on to the page it was going to, from the console's own page");
            Assert.That(token?.Value, Is.Not.Null, "the console's cookie");
            Assert.That(back.SetCookie, Does.Contain("httponly").IgnoreCase.And.Contain("samesite=strict").IgnoreCase.And.Contain("path=/console"));
            Assert.That(page.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(await page.Content.ReadAsStringAsync(), Does.Contain("Grace Hopper (operator)"), "who is signed in");
            Assert.That(withAuthorityToken.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the authority's token is a bearer token of the API");
            Assert.That(withLocalToken.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized), "with an authority, the local key's tokens are not taken");
        });
    }

    [Test]
    public async Task An_access_token_for_another_audience_is_refused_plainly_and_no_cookie_is_kept()
    {
        _authority.AccessTokenAudience = "another-system";
        try
        {
            using var browser = Browser(out var cookies);
            var back = await SignInAsync(browser, "/console/");

            Assert.Multiple(() =>
            {
                Assert.That(back.Status, Is.EqualTo(HttpStatusCode.Forbidden));
                Assert.That(back.Body, Does.Contain("not one this system takes"));
                Assert.That(cookies.GetCookies(ConsoleAddress).Select(c => c.Name), Does.Not.Contain("eventreplay_token"));
            });
        }
        finally
        {
            _authority.AccessTokenAudience = TestAuthority.Audience;
        }
    }

    [Test]
    public async Task A_way_back_the_console_did_not_start_is_a_plain_400()
    {
        using var browser = Browser(out _);
        using var forged = await browser.SendAsync(Html("/console/signin-oidc?code=made-up&state=made-up"));

        Assert.Multiple(async () =>
        {
            Assert.That(forged.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(await forged.Content.ReadAsStringAsync(), Does.Contain("Sign-in did not complete"));
        });
    }

    // Where the console's cookie is sent (its path is /console).
    private Uri ConsoleAddress => new(_monitor.BaseAddress, "/console/");

    private sealed record Return(HttpStatusCode Status, string Body, string? Next, string SetCookie);

    // Page → sign-in page → authority → back to the console, each redirect followed by hand (the authority is another site).
    private async Task<Return> SignInAsync(HttpClient browser, string page)
    {
        using var first = await browser.SendAsync(Html(page));
        Assert.That(first.StatusCode, Is.EqualTo(HttpStatusCode.Redirect), "a page without a token goes to sign in");
        using var signIn = await browser.SendAsync(Html(first.Headers.Location!.OriginalString));
        Assert.That(signIn.Headers.Location?.GetLeftPart(UriPartial.Path), Is.EqualTo($"{_authority.Issuer}/authorize"), "on to the authority");
        using var authorized = await browser.SendAsync(Html(signIn.Headers.Location!.ToString()));
        Assert.That(authorized.Headers.Location?.AbsolutePath, Is.EqualTo("/console/signin-oidc"), "the authority sends the browser back");
        using var back = await browser.SendAsync(Html(authorized.Headers.Location!.ToString()));
        var body = await back.Content.ReadAsStringAsync();
        var next = Refresh().Match(body) is { Success: true } refresh ? WebUtility.HtmlDecode(refresh.Groups[1].Value) : null;
        return new Return(back.StatusCode, body, next,
            back.Headers.TryGetValues("Set-Cookie", out var set) ? string.Join("\n", set.Where(c => c.StartsWith("eventreplay_token=", StringComparison.Ordinal))) : "");
    }

    private HttpClient Browser(out CookieContainer cookies)
    {
        cookies = new CookieContainer();
        return new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = true, CookieContainer = cookies })
        {
            BaseAddress = _monitor.BaseAddress,
            Timeout = TimeSpan.FromSeconds(30),
        };
    }

    private static HttpRequestMessage Html(string uri)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, new Uri(uri, UriKind.RelativeOrAbsolute));
        request.Headers.Accept.ParseAdd("text/html");
        return request;
    }

    [GeneratedRegex("""<meta http-equiv="refresh" content="0;url=([^"]+)">""")]
    private static partial Regex Refresh();
}
