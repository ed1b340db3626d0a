using EventReplay.Tests.Integration.Infrastructure;
using StackExchange.Redis;

namespace EventReplay.Tests.Integration.Security;

/// <summary>
/// Redis has no default user: each consumer connects as its own (eng/secrets.sh), which may use its own keys only, no
/// channels and no administrative or dangerous command; the administrator is for people and scripts. The pipeline tests
/// show the consumers' caches working as these users.
/// </summary>
public sealed class RedisAccountTests
{
    private static readonly TimeSpan Expiry = TimeSpan.FromMinutes(1);

    [TestCase("er-balances", "balances", "statistics")]
    [TestCase("er-statistics", "statistics", "balances")]
    public async Task A_consumer_s_user_may_use_its_own_keys_and_no_others(string user, string own, string other)
    {
        await using var redis = await ConnectAsAsync(user);
        var database = redis.GetDatabase();
        var key = $"{own}:test:{Guid.NewGuid():N}";

        await database.HashSetAsync(key, "value", "1");
        await database.KeyExpireAsync(key, Expiry);
        var otherKey = $"{other}:test:{Guid.NewGuid():N}";

        await Assert.MultipleAsync(async () =>
        {
            Assert.That((string?)await database.HashGetAsync(key, "value"), Is.EqualTo("1"));
            Assert.That(async () => await database.StringSetAsync(otherKey, "forged", Expiry),
                Throws.InstanceOf<RedisServerException>().With.Message.Contains("NOPERM"));
            Assert.That(async () => await database.StringGetAsync(otherKey),
                Throws.InstanceOf<RedisServerException>().With.Message.Contains("NOPERM"));
            Assert.That(async () => await database.ExecuteAsync("FLUSHDB"),
                Throws.InstanceOf<RedisServerException>().With.Message.Contains("NOPERM"));
            Assert.That(async () => await database.ExecuteAsync("CONFIG", "SET", "appendonly", "no"),
                Throws.InstanceOf<RedisServerException>().With.Message.Contains("NOPERM"));
            Assert.That(async () => await database.PublishAsync(RedisChannel.Literal($"{own}:channel"), "x"),
                Throws.InstanceOf<RedisServerException>().With.Message.Contains("NOPERM"));
        });
    }

    [Test]
    public async Task A_client_without_a_user_can_do_nothing()
    {
        var options = ConfigurationOptions.Parse(TestEnvironment.RedisConnectionString);
        options.User = null;
        options.Password = null;
        options.AbortOnConnectFail = false;
        options.ConnectTimeout = 2000;
        await using var redis = await ConnectionMultiplexer.ConnectAsync(options);

        Assert.That(async () => await redis.GetDatabase().StringGetAsync("balances:anything"),
            Throws.InstanceOf<RedisException>());
    }

    [Test]
    public async Task A_wrong_password_is_refused()
    {
        var options = ConfigurationOptions.Parse(TestEnvironment.RedisConnectionString);
        options.User = "er-balances";
        options.Password = "not-" + TestEnvironment.LocalSecret("redis/er-balances");
        options.AbortOnConnectFail = false;
        options.ConnectTimeout = 2000;
        await using var redis = await ConnectionMultiplexer.ConnectAsync(options);

        Assert.That(async () => await redis.GetDatabase().StringGetAsync("balances:anything"),
            Throws.InstanceOf<RedisException>());
    }

    private static async Task<ConnectionMultiplexer> ConnectAsAsync(string user)
    {
        var options = ConfigurationOptions.Parse(TestEnvironment.RedisConnectionString);
        options.User = user;
        options.Password = TestEnvironment.LocalSecret("redis/" + user);
        options.TieBreaker = "";
        options.ConfigurationChannel = "";
        // The client would refuse administrative commands itself: let them through, so that Redis is what refuses them.
        options.AllowAdmin = true;
        return await ConnectionMultiplexer.ConnectAsync(options);
    }
}
