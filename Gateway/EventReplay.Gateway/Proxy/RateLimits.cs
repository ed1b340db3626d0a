using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;

namespace EventReplay.Gateway.Proxy;

/// <summary>One limit: a sustained rate and the burst a client may take at once above it.</summary>
public sealed class ClientLimit
{
    /// <summary>Requests a second, sustained.</summary>
    public double PerSecond { get; set; }

    /// <summary>Requests at once before the rate applies.</summary>
    public int Burst { get; set; }
}

/// <summary>
/// Per-client limits at the gateway (<c>RateLimits</c>; each route names one as its <c>RateLimiterPolicy</c>): account
/// commands and operator actions (<see cref="Commands"/>), reads (<see cref="Reads"/>), and replay starts with dry runs,
/// which count the log (<see cref="Replays"/>). A client is its token's subject, else its address.
/// </summary>
public sealed class RateLimitOptions
{
    public const string CommandsPolicy = "commands";

    public const string ReadsPolicy = "reads";

    public const string ReplaysPolicy = "replays";

    public ClientLimit Commands { get; set; } = new() { PerSecond = 200, Burst = 400 };

    public ClientLimit Reads { get; set; } = new() { PerSecond = 1000, Burst = 2000 };

    public ClientLimit Replays { get; set; } = new() { PerSecond = 10.0 / 60, Burst = 10 };
}

public static class RateLimits
{
    public static WebApplicationBuilder AddClientRateLimits(this WebApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection("RateLimits").Get<RateLimitOptions>() ?? new RateLimitOptions();
        foreach (var (name, limit) in new[] { ("Commands", options.Commands), ("Reads", options.Reads), ("Replays", options.Replays) })
        {
            if (limit.PerSecond <= 0 || limit.Burst < 1)
            {
                throw new InvalidOperationException($"RateLimits:{name} needs PerSecond > 0 and Burst >= 1.");
            }
        }

        builder.Services.AddRateLimiter(limiter =>
        {
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            AddPolicy(limiter, RateLimitOptions.CommandsPolicy, options.Commands);
            AddPolicy(limiter, RateLimitOptions.ReadsPolicy, options.Reads);
            AddPolicy(limiter, RateLimitOptions.ReplaysPolicy, options.Replays);
            limiter.OnRejected = async (rejected, cancellationToken) =>
            {
                var http = rejected.HttpContext;
                var wait = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : TimeSpan.FromSeconds(1);
                var seconds = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds));
                http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
                await http.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
                {
                    HttpContext = http,
                    ProblemDetails =
                    {
                        Status = StatusCodes.Status429TooManyRequests,
                        Title = "Too many requests",
                        Detail = $"This client is over its limit for this kind of request; try again in {seconds} s.",
                    },
                });
            };
        });
        return builder;
    }

    // Each client has its own bucket per kind of request: one client's flood takes nothing from another's. The bucket's
    // settings and the function that gives them are made once per policy; a request only names its client.
    private static void AddPolicy(RateLimiterOptions limiter, string policy, ClientLimit limit)
    {
        var period = Math.Max(100, 1000 / limit.PerSecond);
        var bucket = new TokenBucketRateLimiterOptions
        {
            TokenLimit = limit.Burst,
            // Refilled every 100 ms (at least one token a refill, so slow rates refill less often).
            ReplenishmentPeriod = TimeSpan.FromMilliseconds(period),
            TokensPerPeriod = Math.Max(1, (int)Math.Round(limit.PerSecond * period / 1000)),
            QueueLimit = 0,
            AutoReplenishment = true,
        };
        Func<(bool, string), TokenBucketRateLimiterOptions> settings = _ => bucket;
        limiter.AddPolicy(policy, context => RateLimitPartition.GetTokenBucketLimiter(Client(context), settings));
    }

    // A token's subject, else the remote address (true: a subject).
    private static (bool Subject, string Name) Client(HttpContext context) =>
        context.User.FindFirst("sub")?.Value is { Length: > 0 } subject
            ? (true, subject)
            : (false, context.Connection.RemoteIpAddress?.ToString() ?? "");
}
