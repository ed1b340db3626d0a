using System.Text.Json;
using StackExchange.Redis;

namespace EventReplay.Consumers.Balances.Balances;

/// <summary>
/// Account rows in Redis, each stored with its version. Writes go through a script that refuses to replace a
/// newer version, so a slow writer can never move the cache back. Every call is short-timed and never throws:
/// Redis being down costs a cache miss, not a failed request or a stalled consumer.
/// </summary>
public sealed partial class BalanceCache(IConnectionMultiplexer redis, ILogger<BalanceCache> logger)
{
    public const string KeyPrefix = "balances:v1:account:";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    // KEYS[1] the account key; ARGV[1] the version; ARGV[2] the row as JSON.
    private static readonly LuaScript SetIfNewer = LuaScript.Prepare(
        """
        local current = redis.call('HGET', @key, 'version')
        if current and tonumber(current) >= tonumber(@version) then return 0 end
        redis.call('HSET', @key, 'version', @version, 'row', @row)
        return 1
        """);

    public async Task<AccountBalance?> GetAsync(string accountId)
    {
        try
        {
            var row = await redis.GetDatabase().HashGetAsync(KeyPrefix + accountId, "row");
            return row.IsNullOrEmpty ? null : JsonSerializer.Deserialize<AccountBalance>((string)row!, Json);
        }
        catch (Exception exception) when (exception is RedisException or TimeoutException or JsonException)
        {
            LogUnavailable(exception, "read");
            return null;
        }
    }

    /// <summary>Writes rows in one pipelined round trip; returns false when Redis could not take them.</summary>
    public async Task<bool> SetAsync(IReadOnlyCollection<AccountBalance> rows)
    {
        if (rows.Count == 0)
        {
            return true;
        }

        try
        {
            var batch = redis.GetDatabase().CreateBatch();
            var writes = rows.Select(row => batch.ScriptEvaluateAsync(SetIfNewer, new
            {
                key = (RedisKey)(KeyPrefix + row.AccountId),
                version = row.Version,
                row = JsonSerializer.Serialize(row, Json),
            })).ToList();
            batch.Execute();
            await Task.WhenAll(writes);
            return true;
        }
        catch (Exception exception) when (exception is RedisException or TimeoutException)
        {
            LogUnavailable(exception, "write");
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Redis unavailable for a cache {Operation}; carrying on without it")]
    private partial void LogUnavailable(Exception exception, string operation);
}
