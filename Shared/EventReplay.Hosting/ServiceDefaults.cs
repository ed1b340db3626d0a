using EventReplay.Contracts;
using EventReplay.Hosting.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Npgsql;
using OpenTelemetry;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace EventReplay.Hosting;

public static class ServiceDefaults
{
    /// <summary>The largest request body any service or gateway takes (its bytes, however the request frames them).</summary>
    public const long MaxRequestBodyBytes = 64 * 1024;

    /// <summary>Hosting concerns every service shares: limits, problem details, health, telemetry.</summary>
    public static WebApplicationBuilder AddServiceDefaults(this WebApplicationBuilder builder)
    {
        // NAME_FILE=/path sets NAME from a file (secrets). Before anything reads the configuration.
        builder.Configuration.AddSecretFiles();
        // Kestrel counts a chunked body's framing (every chunk's size line) against its limit, so at MaxRequestBodyBytes
        // it refused chunked bodies a few bytes short of it: its limit leaves room for the framing, and whatever reads a
        // body (JsonBody, the gateway's BodyLimit) holds the body itself to MaxRequestBodyBytes.
        // No Server header: what runs behind the API is nobody's business.
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = 2 * MaxRequestBodyBytes;
            kestrel.AddServerHeader = false;
        });
        builder.Logging.AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.IncludeScopes = true;
            console.TimestampFormat = "HH:mm:ss.fff ";
        });

        // A JSON body naming a property twice is refused wherever ASP.NET Core binds one (JsonBody checks every object).
        // Numbers are numbers (not also strings), on the way in and in the OpenAPI schemas.
        builder.Services.ConfigureHttpJsonOptions(json =>
        {
            StrictJson.RefuseDuplicates(json.SerializerOptions);
            json.SerializerOptions.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict;
        });
        builder.Services.AddProblemDetails(options => options.CustomizeProblemDetails = context =>
            context.ProblemDetails.Extensions["traceId"] = System.Diagnostics.Activity.Current?.TraceId.ToString() ?? context.HttpContext.TraceIdentifier);
        // After ASP.NET Core's writer, which writes only for clients that accept JSON: this one writes for every other.
        builder.Services.AddSingleton<IProblemDetailsWriter, ProblemJsonWriter>();
        builder.Services.AddExceptionHandler<ProblemExceptionHandler>();
        builder.Services.AddHealthChecks().AddCheck("self", () => HealthCheckResult.Healthy(), tags: ["live"]);
        builder.AddTokenAuth();

        var serviceName = builder.Environment.ApplicationName;
        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(serviceName))
            .WithMetrics(metrics => metrics
                .AddMeter(serviceName, Telemetry.SourceName, "Marten", "Npgsql", "Wolverine")
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation());
        // Export only where a collector is configured (the standard OTEL_EXPORTER_OTLP_ENDPOINT variable), and record
        // spans only then: with nobody listening, no span is made at all (the request's own activity still carries a
        // caller's traceparent to the events and the correlation id). Metrics are kept either way.
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            // Parent-based: a trace a caller sampled in is recorded whole, across every service; traces that start here
            // are recorded at Telemetry:TraceSampleRatio (1 by default: every one).
            var ratio = builder.Configuration.GetValue("Telemetry:TraceSampleRatio", 1.0);
            if (ratio is < 0 or > 1)
            {
                throw new InvalidOperationException($"Telemetry:TraceSampleRatio is a fraction from 0 to 1, not {ratio}.");
            }

            telemetry.WithTracing(tracing => tracing
                .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(ratio)))
                .AddSource(serviceName, Telemetry.SourceName, "Marten", "Npgsql", "Wolverine")
                .AddAspNetCoreInstrumentation(options => options.Filter = context =>
                    !context.Request.Path.StartsWithSegments("/health"))
                .AddHttpClientInstrumentation()
                .AddNpgsql());
            telemetry.UseOtlpExporter();
        }

        return builder;
    }

    /// <summary>
    /// Registers the service's PostgreSQL data source from <c>ConnectionStrings:{database}</c> (one of
    /// <see cref="Databases"/>) and its readiness check: the service is ready only while that database answers.
    /// </summary>
    public static WebApplicationBuilder AddPostgres(this WebApplicationBuilder builder, string database)
    {
        builder.Services.AddNpgsqlDataSource(builder.PostgresConnectionString(database));
        builder.Services.AddHealthChecks().AddCheck<PostgresHealthCheck>("postgres", tags: ["ready"]);
        return builder;
    }

    /// <summary>
    /// The middleware every service runs first: problem details, correlation id, a deadline per request, then who calls
    /// (after the problem details, so that a 401 or 403 has its body).
    /// </summary>
    public static WebApplication UseServiceDefaults(this WebApplication app)
    {
        app.UseProblemResponses();
        app.UseCorrelationId();
        app.UseMiddleware<RequestDeadline>();
        app.UseAuthentication();
        app.UseAuthorization();
        return app;
    }

    /// <summary>Problem details for exceptions and for error statuses written without a body.</summary>
    public static WebApplication UseProblemResponses(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        return app;
    }

    /// <summary>A standard <c>ConnectionStrings:{name}</c> value; a service does not start without it.</summary>
    public static string RequiredConnectionString(this WebApplicationBuilder builder, string name) =>
        builder.Configuration.GetConnectionString(name)
        ?? throw new InvalidOperationException($"ConnectionStrings:{name} is not configured.");

    /// <summary>
    /// A PostgreSQL <c>ConnectionStrings:{database}</c> value with <c>Cancellation Timeout=-1</c> whatever it says: a
    /// COMMIT that times out or is cancelled while it waits for a synchronous standby then fails instead of succeeding
    /// with a warning, committed on the primary alone (see <see cref="EventLog.SynchronousStandby"/>).
    /// </summary>
    public static string PostgresConnectionString(this WebApplicationBuilder builder, string database) =>
        new Npgsql.NpgsqlConnectionStringBuilder(builder.RequiredConnectionString(database)) { CancellationTimeout = -1 }.ConnectionString;

    /// <summary>
    /// Health: anyone may ask. <c>/health/live</c> and <c>/health/ready</c> answer a word for load balancers and
    /// supervisors; <c>/health</c> answers JSON with each check's status and why (a consumer's "the event store went back in
    /// time …", a dependency that does not answer).
    /// </summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = check => check.Tags.Contains("live") }).AllowAnonymous();
        app.MapHealthChecks("/health/ready").AllowAnonymous();
        app.MapHealthChecks("/health", new HealthCheckOptions { ResponseWriter = WriteHealthAsync }).AllowAnonymous();
        return app;
    }

    private static Task WriteHealthAsync(HttpContext http, HealthReport report)
    {
        http.Response.ContentType = "application/json";
        return http.Response.WriteAsJsonAsync(new
        {
            status = report.Status.ToString(),
            checks = report.Entries.Select(entry => new
            {
                // What the check itself said; never an exception's text (it may name hosts), as anyone may ask.
                name = entry.Key, status = entry.Value.Status.ToString(), description = entry.Value.Description,
            }),
        }, http.RequestAborted);
    }
}
