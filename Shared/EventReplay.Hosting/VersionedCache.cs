using System.Text.Json;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace EventReplay.Hosting;

/// <summary>
/// Read-model entries in Redis, each stored with its version. Writes go through a script that refuses to replace
/// a newer version, so a slow writer can never move the cache back. Every call is short-timed and never throws:
/// Redis being down costs a cache miss, not a failed request or a stalled consumer.
/// </summary>
public sealed partial class VersionedCache(IConnectionMultiplexer redis, ILogger<VersionedCache> logger)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private static readonly LuaScript SetIfNewer = LuaScript.Prepare(
        """
        local current = redis.call('HGET', @key, 'version')
        if current and tonumber(current) >= tonumber(@version) then return 0 end
        redis.call('HSET', @key, 'version', @version, 'value', @value)
        return 1
        """);

    public async Task<T?> GetAsync<T>(string key)
        where T : class
    {
        try
        {
            var value = await redis.GetDatabase().HashGetAsync(key, "value");
            return value.IsNullOrEmpty ? null : JsonSerializer.Deserialize<T>((string)value!, Json);
        }
        catch (Exception exception) when (exception is RedisException or TimeoutException or JsonException)
        {
            LogUnavailable(exception, "read");
            return null;
        }
    }

    /// <summary>Writes entries in one pipelined round trip; false when Redis could not take them.</summary>
    public async Task<bool> SetAsync<T>(IReadOnlyCollection<(string Key, long Version, T Value)> entries)
    {
        if (entries.Count == 0)
        {
            return true;
        }

        try
        {
            var batch = redis.GetDatabase().CreateBatch();
            var writes = entries.Select(entry => batch.ScriptEvaluateAsync(SetIfNewer, new
            {
                key = (RedisKey)entry.Key,
                version = entry.Version,
                value = JsonSerializer.Serialize(entry.Value, Json),
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
