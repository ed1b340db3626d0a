using System.Security.Claims;
using System.Security.Cryptography;
using EventReplay.Security;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace EventReplay.Hosting.Security;

/// <summary>
/// Before the server listens: the bearer scheme's options built (the key read), and a token of a throwaway key
/// validated and authorized the way a request's is, so the first request does not pay for compiling that code inside
/// its deadline (<c>WarmUp:Enabled=false</c> skips it, as it does the other warm-ups).
/// </summary>
internal sealed class TokenWarmUp(IOptionsMonitor<JwtBearerOptions> bearer, IAuthorizationService authorization, IConfiguration configuration)
    : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var options = bearer.Get(JwtBearerDefaults.AuthenticationScheme);
        if (!configuration.GetValue("WarmUp:Enabled", true))
        {
            return;
        }

        using var throwaway = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var key = new ECDsaSecurityKey(throwaway);
        var parameters = options.TokenValidationParameters.Clone();
        parameters.IssuerSigningKey = key;
        parameters.IssuerSigningKeys = null;
        parameters.ValidIssuer = LocalTokens.Issuer;
        parameters.ValidAudience = LocalTokens.Audience;
        var token = LocalTokens.Mint(key, "warm-up", Roles.All, TimeSpan.FromMinutes(1));
        foreach (var handler in options.TokenHandlers)
        {
            var result = await handler.ValidateTokenAsync(token, parameters);
            if (result.IsValid)
            {
                var user = new ClaimsPrincipal(result.ClaimsIdentity);
                foreach (var policy in new[] { Policies.Read, Policies.Write, Policies.Operate })
                {
                    await authorization.AuthorizeAsync(user, policy);
                }
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
