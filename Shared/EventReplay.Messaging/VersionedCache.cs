using System.Text.Json;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace EventReplay.Messaging;

/// <summary>
/// Read-model entries in Redis, each stored with its version. Writes go through a script that refuses to replace
/// a newer version, so a slow writer can never move the cache back. Every call is short-timed and never throws:
/// Redis being down costs a cache miss, not a failed request or a stalled consumer.
/// </summary>
public sealed partial class VersionedCache(IConnectionMultiplexer redis, ILogger<VersionedCache> logger)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    // Entries per script call: one call writes a whole chunk (a key and its version and value per entry), so a batch
    // of rows costs Redis one script run per chunk instead of one per row, without holding Redis for long.
    private const int EntriesPerCall = 1000;

    // KEYS[i] gets ARGV[2i-1] (version) and ARGV[2i] (value) unless it already holds that version or a newer one.
    private const string SetIfNewer =
        """
        local written = 0
        for i = 1, #KEYS do
          local current = redis.call('HGET', KEYS[i], 'version')
          if not current or tonumber(current) < tonumber(ARGV[2 * i - 1]) then
            redis.call('HSET', KEYS[i], 'version', ARGV[2 * i - 1], 'value', ARGV[2 * i])
            written = written + 1
          end
        end
        return written
        """;

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

    /// <summary>Writes entries in one pipelined round trip (a script call per chunk); false when Redis could not take them.</summary>
    public async Task<bool> SetAsync<T>(IReadOnlyCollection<(string Key, long Version, T Value)> entries)
    {
        if (entries.Count == 0)
        {
            return true;
        }

        try
        {
            var batch = redis.GetDatabase().CreateBatch();
            var writes = entries.Chunk(EntriesPerCall).Select(chunk => batch.ScriptEvaluateAsync(SetIfNewer,
                [.. chunk.Select(entry => (RedisKey)entry.Key)],
                [.. chunk.SelectMany(entry => new RedisValue[] { entry.Version, JsonSerializer.SerializeToUtf8Bytes(entry.Value, Json) })])).ToList();
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
