using System.Security.Cryptography;
using EventReplay.Hosting.Security;
using EventReplay.Security;
using Microsoft.IdentityModel.Tokens;

namespace EventReplay.Tests.Unit.Hosting;

public class ValidatedTokenCacheTests
{
    private readonly ECDsaSecurityKey _key = new(ECDsa.Create(ECCurve.NamedCurves.nistP256));
    private readonly ECDsaSecurityKey _otherKey = new(ECDsa.Create(ECCurve.NamedCurves.nistP256));
    private readonly ManualClock _clock = new();

    [Test]
    public async Task A_valid_token_is_answered_again_with_an_identity_of_its_own()
    {
        var cache = new ValidatedTokenCache(_clock) { MapInboundClaims = false };
        var token = LocalTokens.Mint(_key, "ada", [Roles.Writer], TimeSpan.FromHours(1));

        var first = await cache.ValidateTokenAsync(token, Parameters(_key));
        var second = await cache.ValidateTokenAsync(token, Parameters(_key));

        Assert.Multiple(() =>
        {
            Assert.That(first.IsValid && second.IsValid, Is.True);
            Assert.That(second.ClaimsIdentity, Is.Not.SameAs(first.ClaimsIdentity));
            Assert.That(second.ClaimsIdentity.FindFirst("sub")?.Value, Is.EqualTo("ada"));
            Assert.That(second.SecurityToken.ValidTo, Is.EqualTo(first.SecurityToken.ValidTo));
        });
    }

    [Test]
    public async Task A_token_is_checked_again_after_a_minute()
    {
        var cache = new ValidatedTokenCache(_clock) { MapInboundClaims = false };
        var token = LocalTokens.Mint(_key, "ada", [Roles.Writer], TimeSpan.FromHours(1));
        await cache.ValidateTokenAsync(token, Parameters(_key));

        // The authority withdrew the key: honoured from the cache for at most a minute.
        _clock.Advance(ValidatedTokenCache.KeptFor - TimeSpan.FromSeconds(1));
        var withinTheMinute = await cache.ValidateTokenAsync(token, Parameters(_otherKey));
        _clock.Advance(TimeSpan.FromSeconds(2));
        var afterIt = await cache.ValidateTokenAsync(token, Parameters(_otherKey));

        Assert.Multiple(() =>
        {
            Assert.That(withinTheMinute.IsValid, Is.True);
            Assert.That(afterIt.IsValid, Is.False);
        });
    }

    [Test]
    public async Task An_invalid_token_is_not_kept()
    {
        var cache = new ValidatedTokenCache(_clock) { MapInboundClaims = false };
        var token = LocalTokens.Mint(_key, "ada", [Roles.Writer], TimeSpan.FromHours(1));

        var refused = await cache.ValidateTokenAsync(token, Parameters(_otherKey));
        var checkedAgain = await cache.ValidateTokenAsync(token, Parameters(_key));
        var stillRefused = await new ValidatedTokenCache(_clock).ValidateTokenAsync(token, Parameters(_otherKey));

        Assert.Multiple(() =>
        {
            Assert.That(refused.IsValid, Is.False);
            Assert.That(checkedAgain.IsValid, Is.True);
            Assert.That(stillRefused.IsValid, Is.False);
        });
    }

    private static TokenValidationParameters Parameters(SecurityKey key) => new()
    {
        ValidIssuer = LocalTokens.Issuer,
        ValidAudience = LocalTokens.Audience,
        IssuerSigningKey = key,
        ValidAlgorithms = [SecurityAlgorithms.EcdsaSha256],
    };

    private sealed class ManualClock : TimeProvider
    {
        private DateTimeOffset _now = DateTimeOffset.UtcNow;

        public void Advance(TimeSpan by) => _now += by;

        public override DateTimeOffset GetUtcNow() => _now;
    }
}
