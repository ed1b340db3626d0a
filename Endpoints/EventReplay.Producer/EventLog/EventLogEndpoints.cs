using EventReplay.Contracts;
using EventReplay.Contracts.Accounts;
using EventReplay.EventLog;
using EventReplay.Hosting;
using EventReplay.Producer.Http;
using EventReplay.Security;
using Npgsql;

namespace EventReplay.Producer.EventLog;

public sealed record EventPage(IReadOnlyList<RecordedEvent> Events, long Next);

public sealed record StreamPage(string StreamId, IReadOnlyList<RecordedEvent> Events, long Next);

public static class EventLogEndpoints
{
    public const int MaxAllLimit = 10_000;
    public const int MaxStreamLimit = 1_000;

    public static IEndpointRouteBuilder MapEventLog(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/events", ReadAllAsync).WithTags("Event store")
            .WithName("readEventLog").WithSummary("Read the event log")
            .WithDescription($"Events in position order after `after` (default 0), at most `limit` (1 to {MaxAllLimit}, default 1000); "
                             + "`next` is the `after` of the following page. Only committed events below every append in flight are shown.")
            .Query("after", "The position to read after: 0 (the default) for the start, else the `next` of the previous page.",
                Microsoft.OpenApi.JsonSchemaType.Integer, "int64")
            .Query("limit", $"1 to {MaxAllLimit}; default 1000.", Microsoft.OpenApi.JsonSchemaType.Integer)
            .Produces<EventPage>().ProducesValidationProblem().RequireAuthorization(Policies.Read);
        app.MapGet("/api/streams/{streamId}/events", ReadStreamAsync).WithTags("Event store")
            .WithName("readStream").WithSummary("Read one stream")
            .WithDescription($"One account's events in version order from `fromVersion` (default 1), at most `limit` (1 to {MaxStreamLimit}, "
                             + "default 100); `next` is the `fromVersion` of the following page.")
            .Query("fromVersion", "The first version to read: 1 (the default), else the `next` of the previous page.",
                Microsoft.OpenApi.JsonSchemaType.Integer, "int64")
            .Query("limit", $"1 to {MaxStreamLimit}; default 100.", Microsoft.OpenApi.JsonSchemaType.Integer)
            .Produces<StreamPage>().ProducesValidationProblem().ProducesProblem(StatusCodes.Status404NotFound)
            .RequireAuthorization(Policies.Read);
        return app;
    }

    /// <summary>The whole log in position order; <c>next</c> is the <c>after</c> to ask for the following page.</summary>
    private static async Task<IResult> ReadAllAsync(NpgsqlDataSource dataSource, HttpResponse response, CancellationToken ct,
        string? after = null, string? limit = null)
    {
        var errors = new Dictionary<string, string[]>();
        var from = Parse(after, "after", 0, 0, long.MaxValue, errors);
        var take = Parse(limit, "limit", 1000, 1, MaxAllLimit, errors);
        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        var events = await Deadline.Within(EventLogReader.ReadAllAsync(dataSource, from, (int)take, ct), response.HttpContext);
        if (events is null)
        {
            return Problems.Unavailable(response, "Appends in flight did not finish in time, so the log's safe end is unknown.");
        }

        return TypedResults.Ok(new EventPage(events, events.Count > 0 ? events[^1].Position : from));
    }

    /// <summary>One stream in version order; <c>next</c> is the <c>fromVersion</c> to ask for the following page.</summary>
    private static async Task<IResult> ReadStreamAsync(string streamId, NpgsqlDataSource dataSource, HttpResponse response,
        CancellationToken ct,
        string? fromVersion = null, string? limit = null)
    {
        var errors = new Dictionary<string, string[]>();
        if (AccountId.Check(streamId) is { } idError)
        {
            errors["streamId"] = [idError];
        }

        var from = Parse(fromVersion, "fromVersion", 1, 1, long.MaxValue, errors);
        var take = Parse(limit, "limit", 100, 1, MaxStreamLimit, errors);
        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        var events = await Deadline.Within(EventLogReader.ReadStreamAsync(dataSource, streamId, from, (int)take, ct), response.HttpContext);
        if (events.Count == 0 && !await Deadline.Within(EventLogReader.StreamExistsAsync(dataSource, streamId, ct), response.HttpContext))
        {
            return Problems.NotFound($"Stream {streamId} does not exist.");
        }

        return TypedResults.Ok(new StreamPage(streamId, events, events.Count > 0 ? events[^1].Version + 1 : from));
    }

    // Query values are parsed here rather than bound, so a bad one is a 400 that names the parameter.
    private static long Parse(string? text, string name, long fallback, long min, long max, Dictionary<string, string[]> errors)
    {
        if (text is null)
        {
            return fallback;
        }

        // Digits only: .NET's parsing also takes trailing NUL characters ("1%00").
        if (text.Length > 0 && text.All(char.IsAsciiDigit)
            && long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value)
            && value >= min && value <= max)
        {
            return value;
        }

        errors[name] = [$"must be an integer from {min} to {max}"];
        return fallback;
    }
}
