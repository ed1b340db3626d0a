using System.Globalization;
using System.Text;
using System.Text.Json;
using EventReplay.Hosting;
using Npgsql;
using NpgsqlTypes;

namespace EventReplay.Monitor.FailedMessages;

/// <summary>A failed message as listed.</summary>
public sealed record FailedMessageSummary(
    Guid Id, string Status, string Source, string Queue, string Endpoint, string MessageType, string? StreamId, long? Version,
    long? Position, string Reason, string GroupId, int Attempts, DateTimeOffset FirstFailedAt, DateTimeOffset FailedAt, bool Edited);

/// <summary>One thing that happened to a failed message.</summary>
public sealed record FailedMessageEvent(DateTimeOffset At, string Action, string? Detail, string? Actor);

/// <summary>An edit: the body and headers a retry sent instead of the original's, and who made it.</summary>
public sealed record FailedMessageEdit(DateTimeOffset EditedAt, string EditedBy, string Body, IReadOnlyDictionary<string, string> Headers);

/// <summary>A failed message in full.</summary>
public sealed record FailedMessageDetail(
    FailedMessageSummary Message, string FoundIn, string? AmqpType, string? ContentType, byte[] Body, IReadOnlyDictionary<string, string> Headers,
    IReadOnlyList<FailedMessageEvent> History, IReadOnlyList<FailedMessageEdit> Edits);

/// <summary>A group of failed messages: same queue, same class of reason, same message type.</summary>
public sealed record FailureGroupSummary(
    string GroupId, string Queue, string ReasonClass, string MessageType, long Unresolved, long Retrying, long Resolved, long Archived,
    DateTimeOffset FirstSeen, DateTimeOffset LastSeen);

/// <summary>
/// The filters of a list request (all optional; <see cref="Statuses"/> empty: unresolved and retrying). PostgreSQL text
/// holds no NUL (bodies are searched without theirs), so the text filters drop theirs as they are given.
/// </summary>
public sealed record FailedMessageQuery(
    IReadOnlyList<string> Statuses, string? Text, string? Queue, string? MessageType, string? GroupId, DateTimeOffset? From,
    DateTimeOffset? To, int Limit, (DateTimeOffset FailedAt, Guid Id)? After)
{
    public string? Text { get; init; } = WithoutNul(Text);

    public string? Queue { get; init; } = WithoutNul(Queue);

    public string? MessageType { get; init; } = WithoutNul(MessageType);

    public string? GroupId { get; init; } = WithoutNul(GroupId);

    public static string? WithoutNul(string? text) => StoredText.WithoutNul(text);
}

/// <summary>What a retry sends: the queue, type, body and headers (an edit's when edited), and the attempt it is.</summary>
public sealed record RetryClaim(
    Guid Id, string Queue, string? AmqpType, string? ContentType, byte[] Body, IReadOnlyDictionary<string, string> Headers, int Attempt,
    Guid RetryMessageId);

public enum ClaimRefusal
{
    None,
    NotFound,
    NotRetryable,
}

/// <summary>
/// The monitor's store of failed messages (schema <c>monitor</c>): each one with its body, headers, reason, where it
/// came from and the queue that takes it; its history; its edits; bulk retry jobs. A dead letter is one failed message
/// however often it is collected (its source key), and a retry that fails again is the same failed message.
/// </summary>
public sealed class FailedMessageStore(NpgsqlDataSource dataSource, TimeProvider clock)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private const string Columns = """
        id, status, source, queue, endpoint, message_type, stream_id, version, position, reason, group_id, attempts, first_failed_at,
        failed_at, edited_body is not null
        """;

    public NpgsqlDataSource DataSource => dataSource;

    public async Task EnsureSchemaAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            create schema if not exists monitor;
            create table if not exists monitor.failed_messages (
                id uuid primary key, status text not null, source text not null, queue text not null, found_in text not null,
                endpoint text not null, amqp_type text, message_type text not null, stream_id text, version bigint, position bigint,
                reason text not null, reason_class text not null, group_id text not null, content_type text, body bytea not null,
                body_text text, headers jsonb not null, attempts int not null, first_failed_at timestamptz not null,
                failed_at timestamptz not null, status_changed_at timestamptz not null, retry_message_id uuid, retry_sent_at timestamptz,
                edited_body bytea, edited_headers jsonb);
            create index if not exists failed_messages_newest on monitor.failed_messages (failed_at desc, id desc);
            create index if not exists failed_messages_group on monitor.failed_messages (group_id, status);
            create index if not exists failed_messages_status on monitor.failed_messages (status, status_changed_at);
            create index if not exists failed_messages_retry on monitor.failed_messages (retry_message_id) where retry_message_id is not null;
            create table if not exists monitor.failed_message_collected (
                source_key text primary key, failed_message_id uuid not null, collected_at timestamptz not null);
            create table if not exists monitor.failed_message_history (
                seq bigserial primary key, failed_message_id uuid not null, at timestamptz not null, action text not null, detail text,
                actor text);
            create index if not exists failed_message_history_of on monitor.failed_message_history (failed_message_id, seq);
            create table if not exists monitor.failed_message_edits (
                seq bigserial primary key, failed_message_id uuid not null, edited_at timestamptz not null, edited_by text not null,
                body bytea not null, headers jsonb not null);
            create index if not exists failed_message_edits_of on monitor.failed_message_edits (failed_message_id, seq);
            create table if not exists monitor.retry_jobs (
                id uuid primary key, requested_at timestamptz not null, requested_by text not null, selection text not null,
                total int not null, sent int not null default 0, skipped int not null default 0, finished_at timestamptz);
            create table if not exists monitor.retry_job_items (
                job_id uuid not null, failed_message_id uuid not null, done boolean not null default false,
                primary key (job_id, failed_message_id));
            """);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Records a collected failure, once: a source key seen before changes nothing (false). A retry that failed again
    /// updates its failed message (unresolved, the new reason); anything else is a new failed message.
    /// </summary>
    public async Task<bool> RecordAsync(CollectedFailure failure, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var existing = failure.RetryOf is { } retryOf ? await ExistingAsync(connection, retryOf, cancellationToken) : null;
        var id = existing ?? Guid.CreateVersion7(clock.GetUtcNow());
        await using (var collected = new NpgsqlCommand("""
            insert into monitor.failed_message_collected (source_key, failed_message_id, collected_at) values (@key, @id, @now)
            on conflict (source_key) do nothing
            """, connection))
        {
            collected.Parameters.AddWithValue("key", failure.SourceKey);
            collected.Parameters.AddWithValue("id", id);
            collected.Parameters.AddWithValue("now", clock.GetUtcNow());
            if (await collected.ExecuteNonQueryAsync(cancellationToken) == 0)
            {
                return false;
            }
        }

        var shape = failure.Shape;
        var reasonClass = FailureGroup.ReasonClass(failure.Reason);
        var groupId = FailureGroup.Id(failure.Queue, reasonClass, shape.MessageType);
        if (existing is not null)
        {
            await using var update = new NpgsqlCommand("""
                update monitor.failed_messages set
                    status = case when status = 'archived' then status else 'unresolved' end, reason = @reason, reason_class = @class,
                    group_id = @group, failed_at = @failed, status_changed_at = @now, retry_message_id = null, retry_sent_at = null
                where id = @id
                """, connection);
            update.Parameters.AddWithValue("id", id);
            update.Parameters.AddWithValue("reason", failure.Reason);
            update.Parameters.AddWithValue("class", reasonClass);
            update.Parameters.AddWithValue("group", groupId);
            update.Parameters.AddWithValue("failed", failure.FailedAt);
            update.Parameters.AddWithValue("now", clock.GetUtcNow());
            await update.ExecuteNonQueryAsync(cancellationToken);
            await AddHistoryAsync(connection, id, "failed again", failure.Reason, failure.Endpoint, cancellationToken);
        }
        else
        {
            await using var insert = new NpgsqlCommand("""
                insert into monitor.failed_messages (id, status, source, queue, found_in, endpoint, amqp_type, message_type, stream_id, version,
                    position, reason, reason_class, group_id, content_type, body, body_text, headers, attempts, first_failed_at, failed_at,
                    status_changed_at)
                values (@id, 'unresolved', @source, @queue, @found, @endpoint, @amqp, @type, @stream, @version, @position, @reason, @class,
                    @group, @content, @body, @text, @headers, 1, @failed, @failed, @now)
                """, connection);
            insert.Parameters.AddWithValue("id", id);
            insert.Parameters.AddWithValue("source", failure.Source);
            insert.Parameters.AddWithValue("queue", failure.Queue);
            insert.Parameters.AddWithValue("found", failure.FoundIn);
            insert.Parameters.AddWithValue("endpoint", failure.Endpoint);
            insert.Parameters.Add(new NpgsqlParameter<string?>("amqp", failure.AmqpType));
            insert.Parameters.AddWithValue("type", shape.MessageType);
            insert.Parameters.Add(new NpgsqlParameter<string?>("stream", shape.StreamId));
            insert.Parameters.Add(new NpgsqlParameter<long?>("version", shape.Version));
            insert.Parameters.Add(new NpgsqlParameter<long?>("position", shape.Position));
            insert.Parameters.AddWithValue("reason", failure.Reason);
            insert.Parameters.AddWithValue("class", reasonClass);
            insert.Parameters.AddWithValue("group", groupId);
            insert.Parameters.Add(new NpgsqlParameter<string?>("content", failure.ContentType));
            insert.Parameters.AddWithValue("body", failure.Body);
            // PostgreSQL text cannot hold NUL: such a body is searched without it.
            insert.Parameters.Add(new NpgsqlParameter<string?>("text", FailedMessageQuery.WithoutNul(shape.BodyText)));
            insert.Parameters.Add(JsonParameter("headers", failure.Headers));
            insert.Parameters.AddWithValue("failed", failure.FailedAt);
            insert.Parameters.AddWithValue("now", clock.GetUtcNow());
            await insert.ExecuteNonQueryAsync(cancellationToken);
            await AddHistoryAsync(connection, id, "failed", $"{failure.Reason} (found in {failure.FoundIn})", failure.Endpoint, cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    private static async Task<Guid?> ExistingAsync(NpgsqlConnection connection, Guid id, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("select id from monitor.failed_messages where id = @id or retry_message_id = @id limit 1", connection);
        command.Parameters.AddWithValue("id", id);
        return await command.ExecuteScalarAsync(cancellationToken) is Guid found ? found : null;
    }

    public async Task<(IReadOnlyList<FailedMessageSummary> Items, (DateTimeOffset, Guid)? Next)> ListAsync(FailedMessageQuery query,
        CancellationToken cancellationToken)
    {
        var where = new List<string>();
        await using var command = dataSource.CreateCommand();
        where.Add("status = any(@statuses)");
        command.Parameters.Add(new NpgsqlParameter<string[]>("statuses",
            query.Statuses.Count == 0 ? [FailedMessageStatus.Unresolved, FailedMessageStatus.Retrying] : [.. query.Statuses]));
        if (!string.IsNullOrEmpty(query.Text))
        {
            where.Add("(reason ilike @q escape '\\' or message_type ilike @q escape '\\' or stream_id ilike @q escape '\\' or body_text ilike @q escape '\\')");
            command.Parameters.AddWithValue("q", "%" + Like(query.Text) + "%");
        }

        Filter(command, where, "queue", query.Queue);
        Filter(command, where, "message_type", query.MessageType);
        Filter(command, where, "group_id", query.GroupId);
        if (query.From is { } from)
        {
            where.Add("failed_at >= @from");
            command.Parameters.AddWithValue("from", from);
        }

        if (query.To is { } to)
        {
            where.Add("failed_at < @to");
            command.Parameters.AddWithValue("to", to);
        }

        if (query.After is var (afterTime, afterId))
        {
            where.Add("(failed_at, id) < (@afterTime, @afterId)");
            command.Parameters.AddWithValue("afterTime", afterTime);
            command.Parameters.AddWithValue("afterId", afterId);
        }

        command.CommandText = $"select {Columns} from monitor.failed_messages where {string.Join(" and ", where)} "
            + "order by failed_at desc, id desc limit @limit";
        command.Parameters.AddWithValue("limit", query.Limit + 1);
        var items = new List<FailedMessageSummary>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                items.Add(Summary(reader));
            }
        }

        if (items.Count <= query.Limit)
        {
            return (items, null);
        }

        items.RemoveAt(items.Count - 1);
        return (items, (items[^1].FailedAt, items[^1].Id));
    }

    private static void Filter(NpgsqlCommand command, List<string> where, string column, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            where.Add($"{column} = @{column}");
            command.Parameters.AddWithValue(column, value);
        }
    }

    private static string Like(string text) =>
        text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal);

    public async Task<IReadOnlyList<FailureGroupSummary>> GroupsAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            select group_id, min(queue), min(reason_class), min(message_type),
                count(*) filter (where status = 'unresolved'), count(*) filter (where status = 'retrying'),
                count(*) filter (where status = 'resolved'), count(*) filter (where status = 'archived'),
                min(first_failed_at), max(failed_at)
            from monitor.failed_messages group by group_id
            order by count(*) filter (where status in ('unresolved', 'retrying')) desc, max(failed_at) desc
            """);
        var groups = new List<FailureGroupSummary>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            groups.Add(new FailureGroupSummary(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3),
                reader.GetInt64(4), reader.GetInt64(5), reader.GetInt64(6), reader.GetInt64(7), reader.GetFieldValue<DateTimeOffset>(8),
                reader.GetFieldValue<DateTimeOffset>(9)));
        }

        return groups;
    }

    public async Task<bool> GroupExistsAsync(string groupId, CancellationToken cancellationToken)
    {
        if (!FailureGroup.IsId(groupId))
        {
            return false;
        }

        await using var command = dataSource.CreateCommand("select exists (select 1 from monitor.failed_messages where group_id = @group)");
        command.Parameters.AddWithValue("group", groupId);
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    public async Task<FailedMessageDetail?> DetailAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            $"select {Columns}, found_in, amqp_type, content_type, body, headers::text from monitor.failed_messages where id = @id", connection);
        command.Parameters.AddWithValue("id", id);
        FailedMessageSummary summary;
        string foundIn;
        string? amqpType, contentType;
        byte[] body;
        Dictionary<string, string> headers;
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            if (!await reader.ReadAsync(cancellationToken))
            {
                return null;
            }

            summary = Summary(reader);
            foundIn = reader.GetString(15);
            amqpType = reader.IsDBNull(16) ? null : reader.GetString(16);
            contentType = reader.IsDBNull(17) ? null : reader.GetString(17);
            body = reader.GetFieldValue<byte[]>(18);
            headers = Headers(reader.GetString(19));
        }

        var history = new List<FailedMessageEvent>();
        await using (var read = new NpgsqlCommand(
            "select at, action, detail, actor from monitor.failed_message_history where failed_message_id = @id order by seq", connection))
        {
            read.Parameters.AddWithValue("id", id);
            await using var reader = await read.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                history.Add(new FailedMessageEvent(reader.GetFieldValue<DateTimeOffset>(0), reader.GetString(1),
                    reader.IsDBNull(2) ? null : reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3)));
            }
        }

        var edits = new List<FailedMessageEdit>();
        await using (var read = new NpgsqlCommand(
            "select edited_at, edited_by, body, headers::text from monitor.failed_message_edits where failed_message_id = @id order by seq", connection))
        {
            read.Parameters.AddWithValue("id", id);
            await using var reader = await read.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                edits.Add(new FailedMessageEdit(reader.GetFieldValue<DateTimeOffset>(0), reader.GetString(1),
                    Encoding.UTF8.GetString(reader.GetFieldValue<byte[]>(2)), Headers(reader.GetString(3))));
            }
        }

        return new FailedMessageDetail(summary, foundIn, amqpType, contentType, body, headers, history, edits);
    }

    /// <summary>
    /// Takes an unresolved message for a retry (at most one at a time: a second claim finds it retrying), with an edit
    /// when given (kept beside the original), and returns what to send; or why not.
    /// </summary>
    public async Task<(RetryClaim? Claim, ClaimRefusal Refusal, string? Status)> ClaimRetryAsync(Guid id, string actor,
        (byte[] Body, IReadOnlyDictionary<string, string>? Headers)? edit, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var retryMessageId = Guid.NewGuid();
        await using var claim = new NpgsqlCommand("""
            update monitor.failed_messages set status = 'retrying', attempts = attempts + 1, status_changed_at = @now,
                retry_message_id = @retry, retry_sent_at = @now,
                edited_body = coalesce(@editBody, edited_body),
                edited_headers = case when @editBody is null then edited_headers else coalesce(@editHeaders, edited_headers, headers) end
            where id = @id and status = 'unresolved'
            returning queue, amqp_type, content_type, coalesce(edited_body, body), coalesce(edited_headers, headers)::text, attempts
            """, connection);
        claim.Parameters.AddWithValue("id", id);
        claim.Parameters.AddWithValue("now", clock.GetUtcNow());
        claim.Parameters.AddWithValue("retry", retryMessageId);
        claim.Parameters.Add(new NpgsqlParameter("editBody", NpgsqlDbType.Bytea) { Value = (object?)edit?.Body ?? DBNull.Value });
        claim.Parameters.Add(edit?.Headers is { } editHeaders
            ? JsonParameter("editHeaders", editHeaders)
            : new NpgsqlParameter("editHeaders", NpgsqlDbType.Jsonb) { Value = DBNull.Value });
        RetryClaim? claimed = null;
        await using (var reader = await claim.ExecuteReaderAsync(cancellationToken))
        {
            if (await reader.ReadAsync(cancellationToken))
            {
                claimed = new RetryClaim(id, reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1),
                    reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetFieldValue<byte[]>(3), Headers(reader.GetString(4)),
                    reader.GetInt32(5), retryMessageId);
            }
        }

        if (claimed is null)
        {
            await using var status = new NpgsqlCommand("select status from monitor.failed_messages where id = @id", connection);
            status.Parameters.AddWithValue("id", id);
            var current = await status.ExecuteScalarAsync(cancellationToken) as string;
            return (null, current is null ? ClaimRefusal.NotFound : ClaimRefusal.NotRetryable, current);
        }

        if (edit is { } edited)
        {
            await using var record = new NpgsqlCommand("""
                insert into monitor.failed_message_edits (failed_message_id, edited_at, edited_by, body, headers)
                values (@id, @now, @actor, @body, @headers)
                """, connection);
            record.Parameters.AddWithValue("id", id);
            record.Parameters.AddWithValue("now", clock.GetUtcNow());
            record.Parameters.AddWithValue("actor", actor);
            record.Parameters.AddWithValue("body", edited.Body);
            record.Parameters.Add(JsonParameter("headers", claimed.Headers));
            await record.ExecuteNonQueryAsync(cancellationToken);
            await AddHistoryAsync(connection, id, "edited", null, actor, cancellationToken);
        }

        await AddHistoryAsync(connection, id, "retry sent", $"attempt {claimed.Attempt} to {claimed.Queue}", actor, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return (claimed, ClaimRefusal.None, FailedMessageStatus.Retrying);
    }

    /// <summary>
    /// Takes many unresolved messages for a retry in one transaction (a bulk retry's chunk): those no longer unresolved are
    /// left out, and the caller counts them as skipped.
    /// </summary>
    public async Task<IReadOnlyList<RetryClaim>> ClaimRetriesAsync(IReadOnlyList<Guid> ids, string actor, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            with claimed as (
                update monitor.failed_messages set status = 'retrying', attempts = attempts + 1, status_changed_at = @now,
                    retry_message_id = gen_random_uuid(), retry_sent_at = @now
                where id = any(@ids) and status = 'unresolved'
                returning id, queue, amqp_type, content_type, coalesce(edited_body, body) as body,
                    coalesce(edited_headers, headers)::text as headers, attempts, retry_message_id),
            history as (
                insert into monitor.failed_message_history (failed_message_id, at, action, detail, actor)
                select id, @now, 'retry sent', 'attempt ' || attempts || ' to ' || queue, @actor from claimed)
            select id, queue, amqp_type, content_type, body, headers, attempts, retry_message_id from claimed
            """);
        command.Parameters.Add(new NpgsqlParameter<Guid[]>("ids", [.. ids]));
        command.Parameters.AddWithValue("now", clock.GetUtcNow());
        command.Parameters.AddWithValue("actor", actor);
        var claims = new List<RetryClaim>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            claims.Add(new RetryClaim(reader.GetGuid(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3), reader.GetFieldValue<byte[]>(4), Headers(reader.GetString(5)),
                reader.GetInt32(6), reader.GetGuid(7)));
        }

        return claims;
    }

    /// <summary>A retry that could not be sent: back to unresolved, as it was (an edit it carried stays recorded).</summary>
    public async Task ReleaseRetryAsync(RetryClaim claim, string why, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await ChangeStatusAsync(connection, """
            update monitor.failed_messages set status = 'unresolved', attempts = attempts - 1, status_changed_at = @now,
                retry_message_id = null, retry_sent_at = null
            where id = @id and retry_message_id = @retry and status = 'retrying'
            """, "retry not sent", why, null, parameters =>
            {
                parameters.AddWithValue("id", claim.Id);
                parameters.AddWithValue("retry", claim.RetryMessageId);
            }, cancellationToken);
    }

    /// <summary>A consumer applied the retried message: resolved. False when there was nothing to resolve.</summary>
    public async Task<bool> ResolveAsync(Guid id, string detail, string? actor, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var resolved = await ChangeStatusAsync(connection, """
            update monitor.failed_messages set status = 'resolved', status_changed_at = @now
            where (id = @id or retry_message_id = @id) and status in ('unresolved', 'retrying')
            """, "resolved", detail, actor, parameters => parameters.AddWithValue("id", id), cancellationToken);
        return resolved > 0;
    }

    /// <summary>Archives (or unarchives) one message. Null: no such message; false: not in a state that allows it.</summary>
    public async Task<bool?> SetArchivedAsync(Guid id, bool archived, string actor, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        if (await ChangeStatusAsync(connection, ArchiveSql(archived, "id = @id"), archived ? "archived" : "unarchived", null, actor,
                parameters => parameters.AddWithValue("id", id), cancellationToken) > 0)
        {
            return true;
        }

        await using var status = new NpgsqlCommand("select status from monitor.failed_messages where id = @id", connection);
        status.Parameters.AddWithValue("id", id);
        return await status.ExecuteScalarAsync(cancellationToken) is string current
            ? current == (archived ? FailedMessageStatus.Archived : FailedMessageStatus.Unresolved) // already so: nothing to do, and fine
            : null;
    }

    /// <summary>Archives (or unarchives) every message of a group that can be; how many changed.</summary>
    public async Task<int> SetGroupArchivedAsync(string groupId, bool archived, string actor, CancellationToken cancellationToken)
    {
        if (!FailureGroup.IsId(groupId))
        {
            return 0;
        }

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await ChangeStatusAsync(connection, ArchiveSql(archived, "group_id = @group"), archived ? "archived" : "unarchived", null,
            actor, parameters => parameters.AddWithValue("group", groupId), cancellationToken);
    }

    private static string ArchiveSql(bool archived, string which) => archived
        ? $"update monitor.failed_messages set status = 'archived', status_changed_at = @now where {which} and status = 'unresolved'"
        : $"update monitor.failed_messages set status = 'unresolved', status_changed_at = @now where {which} and status = 'archived'";

    /// <summary>Retries sent longer ago than <paramref name="window"/> with no outcome: unresolved again, so they can be retried.</summary>
    public async Task<int> ExpireRetriesAsync(TimeSpan window, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await ChangeStatusAsync(connection, """
            update monitor.failed_messages set status = 'unresolved', status_changed_at = @now, retry_message_id = null, retry_sent_at = null
            where status = 'retrying' and retry_sent_at < @before
            """, "no outcome", $"neither applied nor set aside within {window.TotalSeconds:0} s of the retry", null,
            parameters => parameters.AddWithValue("before", clock.GetUtcNow() - window), cancellationToken);
    }

    /// <summary>
    /// A change of status (<paramref name="update"/>: an update of <c>monitor.failed_messages</c>, which may use <c>@now</c>)
    /// and the history entry of every message it changed, in one statement: a reader never sees a status without its entry
    /// (as when the two were written one after the other, and a message showed "resolved" with its history still ending at
    /// the retry). How many messages changed.
    /// </summary>
    private async Task<int> ChangeStatusAsync(NpgsqlConnection connection, string update, string action, string? detail, string? actor,
        Action<NpgsqlParameterCollection> parameters, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand($"""
            with changed as ({update} returning id)
            insert into monitor.failed_message_history (failed_message_id, at, action, detail, actor)
            select id, @now, @action, @detail, @actor from changed
            """, connection);
        parameters(command.Parameters);
        command.Parameters.AddWithValue("now", clock.GetUtcNow());
        command.Parameters.AddWithValue("action", action);
        command.Parameters.Add(new NpgsqlParameter<string?>("detail", detail));
        command.Parameters.Add(new NpgsqlParameter<string?>("actor", actor));
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Deletes archived messages archived before <paramref name="before"/>, with their history and edits.</summary>
    public async Task<int> PurgeArchivedAsync(DateTimeOffset before, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            with purged as (delete from monitor.failed_messages where status = 'archived' and status_changed_at < @before returning id),
                history as (delete from monitor.failed_message_history where failed_message_id in (select id from purged)),
                edits as (delete from monitor.failed_message_edits where failed_message_id in (select id from purged)),
                keys as (delete from monitor.failed_message_collected where failed_message_id in (select id from purged))
            select count(*) from purged
            """);
        command.Parameters.AddWithValue("before", before);
        return Convert.ToInt32(await command.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
    }

    internal static async Task AddHistoryAsync(NpgsqlConnection connection, Guid id, string action, string? detail, string? actor,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("""
            insert into monitor.failed_message_history (failed_message_id, at, action, detail, actor) values (@id, now(), @action, @detail, @actor)
            """, connection);
        command.Parameters.AddWithValue("id", id);
        command.Parameters.AddWithValue("action", action);
        command.Parameters.Add(new NpgsqlParameter<string?>("detail", detail));
        command.Parameters.Add(new NpgsqlParameter<string?>("actor", actor));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static FailedMessageSummary Summary(NpgsqlDataReader reader) => new(
        reader.GetGuid(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.GetString(5),
        reader.IsDBNull(6) ? null : reader.GetString(6), reader.IsDBNull(7) ? null : reader.GetInt64(7),
        reader.IsDBNull(8) ? null : reader.GetInt64(8), reader.GetString(9), reader.GetString(10), reader.GetInt32(11),
        reader.GetFieldValue<DateTimeOffset>(12), reader.GetFieldValue<DateTimeOffset>(13), reader.GetBoolean(14));

    internal static NpgsqlParameter JsonParameter(string name, IReadOnlyDictionary<string, string> headers) =>
        new(name, NpgsqlDbType.Jsonb) { Value = JsonSerializer.Serialize(headers, Json) };

    private static Dictionary<string, string> Headers(string json) =>
        JsonSerializer.Deserialize<Dictionary<string, string>>(json, Json) ?? [];
}
