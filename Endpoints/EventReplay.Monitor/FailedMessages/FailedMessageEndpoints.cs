using System.Globalization;
using System.Text;
using System.Text.Json;
using EventReplay.Contracts.Monitoring;
using EventReplay.Hosting;
using EventReplay.Hosting.Security;
using EventReplay.Security;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.OpenApi;

namespace EventReplay.Monitor.FailedMessages;

/// <summary>
/// <c>/api/failed-messages</c>: list and search, groups, one in full, retry (one, bulk as a job, edited), archive and
/// unarchive (one or a group). Refusals are problem details: 404 unknown, 409 not in a state for it, 400 malformed.
/// Operators only; who acted is the caller's token (its name), never a header.
/// </summary>
public static class FailedMessageEndpoints
{

    /// <summary>At most this many ids in one bulk retry request; a group has no such limit.</summary>
    public const int MaxIds = 1000;

    public static WebApplication MapFailedMessages(this WebApplication app)
    {
        var messages = app.MapGroup("/api/failed-messages").WithTags("Failed messages").RequireAuthorization(Policies.Operate);
        messages.MapGet("", ListAsync)
            .WithName("listFailedMessages").WithSummary("List and search failed messages")
            .WithDescription("Newest first; without `status`, the unresolved and retrying ones.")
            .Query("status", $"One or more of {string.Join(", ", FailedMessageStatus.All)}, separated by commas.")
            .Query("q", "Text searched in the reason, message type, stream id and body (at most 200 characters).")
            .Query("queue", "Only this queue's.").Query("messageType", "Only this message type's.").Query("groupId", "Only this group's.")
            .Query("from", "Failed at or after (ISO 8601).", format: "date-time").Query("to", "Failed before (ISO 8601).", format: "date-time")
            .Query("limit", "1 to 500; default 50.", JsonSchemaType.Integer).Query("after", "The `next` of the previous page.")
            .Produces<FailedMessagePage>().ProducesValidationProblem();
        messages.MapGet("/groups", async (FailedMessageStore store, CancellationToken ct) =>
                TypedResults.Ok(new FailureGroupList(await store.GroupsAsync(ct))))
            .WithName("listFailureGroups").WithSummary("List failure groups")
            .WithDescription("Failed messages grouped by queue, class of reason and message type, with counts by status.");
        messages.MapGet("/{id}", DetailAsync)
            .WithName("getFailedMessage").WithSummary("Read a failed message in full")
            .WithDescription("Its body (text, or base64 when it is not UTF-8), headers, history and edits.")
            .Produces<FailedMessageView>().ProducesProblem(StatusCodes.Status404NotFound);
        messages.MapPost("/{id}/retry", (string id, HttpRequest http, FailedMessageRetrier retrier, CancellationToken ct) =>
                RetryAsync(id, http, retrier, edit: null, ct)).Audit("failed-message.retry", "id")
            .WithName("retryFailedMessage").WithSummary("Retry a failed message")
            .WithDescription("Sends it again to the queue it failed on; 409 unless it is unresolved.")
            .Produces<RetrySent>(StatusCodes.Status202Accepted).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);
        messages.MapPost("/{id}/edit-and-retry", EditAndRetryAsync).Audit("failed-message.edit-and-retry", "id")
            .WithName("editAndRetryFailedMessage").WithSummary("Edit a failed message and retry it")
            .WithDescription("Sends a corrected body (and headers) instead of the original; the edit is kept with who made it.")
            .Accepts<EditAndRetryBody>("application/json")
            .RequestExample(new EditAndRetryBody("""{"accountId":"acc-1001","amount":25.50}""", new Dictionary<string, string> { ["reason"] = "amount fixed" }))
            .Produces<RetrySent>(StatusCodes.Status202Accepted).ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);
        Archive(messages.MapPost("/{id}/archive", (string id, HttpRequest http, FailedMessageStore store, CancellationToken ct) =>
                ArchiveAsync(id, archived: true, http, store, ct)).Audit("failed-message.archive", "id"),
            "archiveFailedMessage", "Archive a failed message", "Set aside for good: not listed by default, not retried.");
        Archive(messages.MapPost("/{id}/unarchive", (string id, HttpRequest http, FailedMessageStore store, CancellationToken ct) =>
                ArchiveAsync(id, archived: false, http, store, ct)).Audit("failed-message.unarchive", "id"),
            "unarchiveFailedMessage", "Unarchive a failed message", "Unresolved again, so it can be retried.");
        messages.MapPost("/groups/{groupId}/archive", (string groupId, HttpRequest http, FailedMessageStore store, CancellationToken ct) =>
                ArchiveGroupAsync(groupId, archived: true, http, store, ct)).Audit("failed-message-group.archive", "groupId")
            .WithName("archiveFailureGroup").WithSummary("Archive a group's unresolved messages")
            .Produces<GroupArchiveDone>().ProducesProblem(StatusCodes.Status404NotFound);
        messages.MapPost("/groups/{groupId}/unarchive", (string groupId, HttpRequest http, FailedMessageStore store, CancellationToken ct) =>
                ArchiveGroupAsync(groupId, archived: false, http, store, ct)).Audit("failed-message-group.unarchive", "groupId")
            .WithName("unarchiveFailureGroup").WithSummary("Unarchive a group's archived messages")
            .Produces<GroupArchiveDone>().ProducesProblem(StatusCodes.Status404NotFound);
        messages.MapPost("/retry", BulkRetryAsync).Audit("failed-messages.bulk-retry")
            .WithName("retryFailedMessages").WithSummary("Retry many failed messages")
            .WithDescription($"Either `ids` (1 to {MaxIds}) or a whole `groupId`: a job that sends them in chunks; 202 with the job, "
                             + "whose `Location` tells how far it is.")
            .Accepts<BulkRetryBody>("application/json")
            .RequestExample(new BulkRetryBody(null, "balances.live|ValidationError|FundsDeposited"))
            .Produces<RetryJobView>(StatusCodes.Status202Accepted).ProducesValidationProblem().ProducesProblem(StatusCodes.Status404NotFound);
        messages.MapGet("/retry-jobs/{jobId}", async (string jobId, RetryJobStore jobs, CancellationToken ct) =>
                Guid.TryParse(jobId, out var id) && await jobs.GetAsync(id, ct) is { } job
                    ? (IResult)TypedResults.Ok(RetryJobView.Of(job))
                    : NotFound("No such retry job.", $"Retry job {jobId} does not exist."))
            .WithName("getRetryJob").WithSummary("Read a bulk retry's progress")
            .Produces<RetryJobView>().ProducesProblem(StatusCodes.Status404NotFound);
        return app;
    }

    private static void Archive(RouteHandlerBuilder endpoint, string name, string summary, string description) => endpoint
        .WithName(name).WithSummary(summary).WithDescription(description)
        .Produces<ArchiveDone>().ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);

    // Who acts: the token's name (X-Requested-By is not trusted).
    private static string Actor(HttpRequest http) => http.HttpContext.Actor();

    private static async Task<IResult> ListAsync(HttpRequest http, FailedMessageStore store, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>();
        var query = http.Query;
        string? One(string name)
        {
            var values = query[name];
            if (values.Count > 1)
            {
                errors[name] = [$"{name} is given more than once."];
                return null;
            }

            return values.Count == 1 ? values[0] : null;
        }

        var statuses = new List<string>();
        if (One("status") is { } status)
        {
            foreach (var value in status.Split(',', StringSplitOptions.TrimEntries))
            {
                if (!FailedMessageStatus.All.Contains(value))
                {
                    errors["status"] = [$"status is one or more of {string.Join(", ", FailedMessageStatus.All)}, separated by commas."];
                    break;
                }

                statuses.Add(value);
            }
        }

        var limit = 50;
        if (One("limit") is { } limitText && (!limitText.All(char.IsAsciiDigit)
                                              || !int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > 500))
        {
            errors["limit"] = ["limit is 1 to 500."];
        }

        var from = Time(One("from"), "from", errors);
        var to = Time(One("to"), "to", errors);
        (DateTimeOffset, Guid)? after = null;
        if (One("after") is { } cursor)
        {
            after = FailedMessageCursor.Parse(cursor);
            if (after is null)
            {
                errors["after"] = ["after is the \"next\" value of a previous page."];
            }
        }

        var text = One("q");
        if (text is { Length: > 200 })
        {
            errors["q"] = ["q is at most 200 characters."];
        }

        var request = new FailedMessageQuery(statuses, text, One("queue"), One("messageType"), One("groupId"), from, to, limit, after);
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors, title: "The request is invalid");
        }

        var (items, next) = await store.ListAsync(request, cancellationToken);
        return TypedResults.Ok(new FailedMessagePage(items, next is { } page ? FailedMessageCursor.Format(page) : null));
    }

    private static DateTimeOffset? Time(string? text, string name, Dictionary<string, string[]> errors)
    {
        if (text is null)
        {
            return null;
        }

        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal,
                out var time))
        {
            return time;
        }

        errors[name] = [$"{name} is a date and time (ISO 8601)."];
        return null;
    }

    private static async Task<IResult> DetailAsync(string id, FailedMessageStore store, CancellationToken cancellationToken)
    {
        if (!Guid.TryParse(id, out var key) || await store.DetailAsync(key, cancellationToken) is not { } detail)
        {
            return UnknownMessage(id);
        }

        var text = MessageShape.Utf8(detail.Body);
        var message = detail.Message;
        return TypedResults.Ok(new FailedMessageView(message.Id, message.Status, message.Source, message.Queue, message.Endpoint,
            message.MessageType, message.StreamId, message.Version, message.Position, message.Reason, message.GroupId, message.Attempts,
            message.FirstFailedAt, message.FailedAt, message.Edited, detail.FoundIn, detail.AmqpType, detail.ContentType,
            text ?? Convert.ToBase64String(detail.Body), text is null ? "base64" : "utf-8", detail.Headers, detail.History, detail.Edits));
    }

    private static async Task<IResult> RetryAsync(string id, HttpRequest http, FailedMessageRetrier retrier,
        (byte[] Body, IReadOnlyDictionary<string, string>? Headers)? edit, CancellationToken cancellationToken)
    {
        if (!Guid.TryParse(id, out var key))
        {
            return UnknownMessage(id);
        }

        var outcome = await retrier.RetryAsync(key, Actor(http), edit, cancellationToken);
        return outcome.Refusal switch
        {
            ClaimRefusal.NotFound => UnknownMessage(id),
            ClaimRefusal.NotRetryable => TypedResults.Problem(statusCode: 409, title: "This message cannot be retried now.",
                detail: outcome.Status == FailedMessageStatus.Retrying
                    ? $"Failed message {id} is being retried already; its outcome is awaited."
                    : $"Failed message {id} is {outcome.Status}; only an unresolved message is retried (unarchive an archived one first)."),
            _ => TypedResults.Accepted($"/api/failed-messages/{id}",
                new RetrySent(key, FailedMessageStatus.Retrying, outcome.Sent!.Attempt, outcome.Sent.Queue)),
        };
    }

    /// <summary>The edit's body: a string, the replacement message body (JSON when the message is JSON); headers: an object of strings.</summary>
    private sealed record EditRequest(JsonElement? Body, JsonElement? Headers);

    private static async Task<IResult> EditAndRetryAsync(string id, HttpRequest http, FailedMessageStore store, FailedMessageRetrier retrier,
        CancellationToken cancellationToken)
    {
        var (request, problem) = await JsonBody.ReadAsync<EditRequest>(http, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        var errors = new Dictionary<string, string[]>();
        byte[]? body = null;
        if (request!.Body is not { ValueKind: JsonValueKind.String } bodyValue || bodyValue.GetString() is not { Length: > 0 } bodyText)
        {
            errors["body"] = ["body is the replacement message body, as a non-empty string."];
        }
        else
        {
            body = Encoding.UTF8.GetBytes(bodyText);
        }

        Dictionary<string, string>? headers = null;
        if (request.Headers is { } given && given.ValueKind != JsonValueKind.Null)
        {
            if (given.ValueKind != JsonValueKind.Object)
            {
                errors["headers"] = ["headers is an object of header names to string values."];
            }
            else
            {
                headers = [];
                foreach (var header in given.EnumerateObject())
                {
                    if (header.Value.ValueKind != JsonValueKind.String || header.Name.Length is 0 or > 255
                        || header.Name.Contains('\0', StringComparison.Ordinal) || header.Value.GetString()!.Contains('\0', StringComparison.Ordinal))
                    {
                        errors["headers"] = [$"Header '{header.Name.Replace("\0", "\\0", StringComparison.Ordinal)}': a header is a name of 1 to 255 characters and a string value, neither with a NUL."];
                        break;
                    }

                    if (FailedMessageHeaders.IsBrokers(header.Name)
                        || header.Name.Equals(FailedMessageHeaders.FailedMessageId, StringComparison.OrdinalIgnoreCase)
                        || header.Name.Equals(FailedMessageHeaders.Attempt, StringComparison.OrdinalIgnoreCase))
                    {
                        errors["headers"] = [$"Header '{header.Name}' is set by the monitor or the broker, not by an edit."];
                        break;
                    }

                    headers[header.Name] = header.Value.GetString()!;
                }
            }
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors, title: "The edit is not valid.");
        }

        if (!Guid.TryParse(id, out var key) || await store.DetailAsync(key, cancellationToken) is not { } current)
        {
            return UnknownMessage(id);
        }

        if (IsJson(current.ContentType))
        {
            try
            {
                using var parsed = JsonDocument.Parse(body);
            }
            catch (JsonException exception)
            {
                return TypedResults.ValidationProblem(
                    new Dictionary<string, string[]> { ["body"] = [$"The message is JSON ({current.ContentType ?? "no content type"}) and the new body is not: {exception.Message}"] },
                    title: "The edit is not valid.");
            }
        }

        return await RetryAsync(id, http, retrier, (body!, headers), cancellationToken);
    }

    private static bool IsJson(string? contentType) =>
        contentType is null || contentType.Contains("json", StringComparison.OrdinalIgnoreCase);

    private static async Task<IResult> ArchiveAsync(string id, bool archived, HttpRequest http, FailedMessageStore store,
        CancellationToken cancellationToken)
    {
        if (!Guid.TryParse(id, out var key))
        {
            return UnknownMessage(id);
        }

        return await store.SetArchivedAsync(key, archived, Actor(http), cancellationToken) switch
        {
            null => UnknownMessage(id),
            false => TypedResults.Problem(statusCode: 409, title: archived ? "This message cannot be archived now." : "This message is not archived.",
                detail: archived
                    ? $"Failed message {id} is being retried or is resolved; only an unresolved message is archived."
                    : $"Failed message {id} is not archived."),
            true => TypedResults.Ok(new ArchiveDone(key, archived ? FailedMessageStatus.Archived : FailedMessageStatus.Unresolved)),
        };
    }

    private static async Task<IResult> ArchiveGroupAsync(string groupId, bool archived, HttpRequest http, FailedMessageStore store,
        CancellationToken cancellationToken)
    {
        if (!await store.GroupExistsAsync(groupId, cancellationToken))
        {
            return NotFound("No such group.", $"No failed message is in group {groupId}.");
        }

        var changed = await store.SetGroupArchivedAsync(groupId, archived, Actor(http), cancellationToken);
        return TypedResults.Ok(new GroupArchiveDone(groupId, changed, archived ? FailedMessageStatus.Archived : FailedMessageStatus.Unresolved));
    }

    private sealed record BulkRetryRequest(JsonElement? Ids, JsonElement? GroupId);

    private static async Task<IResult> BulkRetryAsync(HttpRequest http, FailedMessageStore store, RetryJobStore jobs, RetryJobWorker worker,
        CancellationToken cancellationToken)
    {
        var (request, problem) = await JsonBody.ReadAsync<BulkRetryRequest>(http, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        var hasIds = request!.Ids is { ValueKind: not JsonValueKind.Null };
        var hasGroup = request.GroupId is { ValueKind: not JsonValueKind.Null };
        var errors = new Dictionary<string, string[]>();
        var ids = new List<Guid>();
        if (hasIds == hasGroup)
        {
            errors["ids"] = ["Give either ids (an array of failed message ids) or groupId, not both and not neither."];
        }
        else if (hasIds)
        {
            if (request.Ids!.Value.ValueKind != JsonValueKind.Array || request.Ids.Value.GetArrayLength() is 0 or > MaxIds)
            {
                errors["ids"] = [$"ids is an array of 1 to {MaxIds} failed message ids (retry a group for more)."];
            }
            else
            {
                foreach (var item in request.Ids.Value.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.String || !Guid.TryParse(item.GetString(), out var id))
                    {
                        errors["ids"] = ["Every id is a failed message id (a UUID string)."];
                        break;
                    }

                    ids.Add(id);
                }
            }
        }
        else if (request.GroupId!.Value.ValueKind != JsonValueKind.String || request.GroupId.Value.GetString() is not { Length: > 0 })
        {
            errors["groupId"] = ["groupId is a group's id (a string)."];
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors, title: "The retry request is not valid.");
        }

        RetryJob job;
        if (hasIds)
        {
            job = await jobs.CreateForIdsAsync(ids, Actor(http), cancellationToken);
        }
        else
        {
            var groupId = request.GroupId!.Value.GetString()!;
            if (!await store.GroupExistsAsync(groupId, cancellationToken))
            {
                return NotFound("No such group.", $"No failed message is in group {groupId}.");
            }

            job = await jobs.CreateForGroupAsync(groupId, Actor(http), cancellationToken);
        }

        worker.Wake();
        return TypedResults.Accepted($"/api/failed-messages/retry-jobs/{job.Id}", RetryJobView.Of(job));
    }

    private static ProblemHttpResult UnknownMessage(string id) => NotFound("No such failed message.", $"Failed message {id} does not exist.");

    private static ProblemHttpResult NotFound(string title, string detail) => TypedResults.Problem(statusCode: 404, title: title, detail: detail);
}
