using System.Globalization;
using EventReplay.Hosting;
using EventReplay.Hosting.Security;
using EventReplay.Security;

namespace EventReplay.Monitor.Audit;

/// <summary>
/// <c>GET /api/audit?actor=&amp;action=&amp;from=&amp;to=&amp;limit=&amp;before=</c> (operators): who did what, when, from
/// which address, with which correlation id, newest first; <c>next</c> is the <c>before</c> of the following page.
/// </summary>
public static class AuditEndpoints
{
    public static WebApplication MapAudit(this WebApplication app)
    {
        app.MapGet("/api/audit", ListAsync).WithTags("Audit")
            .WithName("listAudit").WithSummary("List who did what")
            .WithDescription("Every replay and operator action, newest first: actor (the token's subject and name, or the broker user of "
                             + "an AMQP command), on whose behalf, action, target, from which address, correlation id.")
            .Query("actor", "Only this actor's.").Query("action", "Only this action (e.g. replay.start).")
            .Query("from", "At or after (ISO 8601).", format: "date-time").Query("to", "Before (ISO 8601).", format: "date-time")
            .Query("limit", "1 to 500; default 50.", Microsoft.OpenApi.JsonSchemaType.Integer).Query("before", "The `next` of the previous page.")
            .Produces<AuditPage>().ProducesValidationProblem()
            .RequireAuthorization(Policies.Operate);
        return app;
    }

    private static async Task<IResult> ListAsync(HttpRequest http, AuditLog audit, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>();
        string? One(string name)
        {
            var values = http.Query[name];
            if (values.Count > 1)
            {
                errors[name] = [$"{name} is given more than once."];
                return null;
            }

            var value = values.Count == 1 ? values[0] : null;
            if (value is { Length: > 200 } || value?.Contains('\0', StringComparison.Ordinal) == true)
            {
                errors[name] = [$"{name} is at most 200 characters, without NUL."];
                return null;
            }

            return value;
        }

        DateTimeOffset? Time(string name)
        {
            if (One(name) is not { } text)
            {
                return null;
            }

            if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time))
            {
                return time;
            }

            errors[name] = [$"{name} is a time (ISO 8601, e.g. 2026-12-01T00:00:00Z)."];
            return null;
        }

        var actor = One("actor");
        var action = One("action");
        var from = Time("from");
        var to = Time("to");
        var limit = 50;
        if (One("limit") is { } limitText && (!limitText.All(char.IsAsciiDigit)
                                              || !int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > 500))
        {
            errors["limit"] = ["limit is 1 to 500."];
        }

        long? before = null;
        if (One("before") is { } cursor)
        {
            if (cursor.All(char.IsAsciiDigit) && long.TryParse(cursor, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
            {
                before = id;
            }
            else
            {
                errors["before"] = ["before is the \"next\" value of a previous page."];
            }
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors, title: "The request is invalid");
        }

        var entries = await audit.ListAsync(actor, action, from, to, limit, before, cancellationToken);
        return TypedResults.Ok(new AuditPage(entries, entries.Count == limit ? entries[^1].Id.ToString(CultureInfo.InvariantCulture) : null));
    }
}
