using Npgsql;

namespace EventReplay.Monitor.FailedMessages;

/// <summary>A bulk retry: how many messages it covers, how many were sent, how many were skipped (not unresolved by then, or unknown).</summary>
public sealed record RetryJob(Guid Id, DateTimeOffset RequestedAt, string RequestedBy, string Selection, int Total, int Sent, int Skipped,
    DateTimeOffset? FinishedAt)
{
    public string Status => FinishedAt is null ? "running" : "done";
}

/// <summary>
/// Bulk retries as background jobs (tables <c>monitor.retry_jobs</c>, <c>monitor.retry_job_items</c>): a request
/// records the job and the ids it covers in one statement and is answered at once; <see cref="RetryJobWorker"/> sends
/// them in chunks, and the job's counts say how far it is.
/// </summary>
public sealed class RetryJobStore(NpgsqlDataSource dataSource, TimeProvider clock)
{
    /// <summary>A job for the given ids (those unknown count as skipped at once).</summary>
    public async Task<RetryJob> CreateForIdsAsync(IReadOnlyCollection<Guid> ids, string actor, CancellationToken cancellationToken) =>
        await CreateAsync($"{ids.Count} ids", ids.Count, "select id from monitor.failed_messages where id = any(@ids)",
            command => command.Parameters.Add(new NpgsqlParameter<Guid[]>("ids", [.. ids.Distinct()])), actor, cancellationToken);

    /// <summary>A job for every unresolved message of a group.</summary>
    public async Task<RetryJob> CreateForGroupAsync(string groupId, string actor, CancellationToken cancellationToken) =>
        await CreateAsync($"group {groupId}", null, "select id from monitor.failed_messages where group_id = @group and status = 'unresolved'",
            command => command.Parameters.AddWithValue("group", groupId), actor, cancellationToken);

    private async Task<RetryJob> CreateAsync(string selection, int? total, string select, Action<NpgsqlCommand> parameters, string actor,
        CancellationToken cancellationToken)
    {
        var id = Guid.CreateVersion7(clock.GetUtcNow());
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        int items;
        await using (var insert = new NpgsqlCommand(
            $"insert into monitor.retry_job_items (job_id, failed_message_id) select @job, id from ({select}) chosen", connection))
        {
            insert.Parameters.AddWithValue("job", id);
            parameters(insert);
            items = await insert.ExecuteNonQueryAsync(cancellationToken);
        }

        var all = total ?? items;
        var now = clock.GetUtcNow();
        await using (var job = new NpgsqlCommand("""
            insert into monitor.retry_jobs (id, requested_at, requested_by, selection, total, skipped, finished_at)
            values (@id, @now, @actor, @selection, @total, @skipped, case when @items = 0 then @now end)
            """, connection))
        {
            job.Parameters.AddWithValue("id", id);
            job.Parameters.AddWithValue("now", now);
            job.Parameters.AddWithValue("actor", actor);
            job.Parameters.AddWithValue("selection", selection);
            job.Parameters.AddWithValue("total", all);
            job.Parameters.AddWithValue("skipped", all - items);
            job.Parameters.AddWithValue("items", items);
            await job.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return new RetryJob(id, now, actor, selection, all, 0, all - items, items == 0 ? now : null);
    }

    public async Task<RetryJob?> GetAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            "select id, requested_at, requested_by, selection, total, sent, skipped, finished_at from monitor.retry_jobs where id = @id");
        command.Parameters.AddWithValue("id", id);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? Read(reader) : null;
    }

    /// <summary>The oldest unfinished job and up to <paramref name="count"/> of its ids not done yet.</summary>
    public async Task<(RetryJob Job, IReadOnlyList<Guid> Ids)?> NextAsync(int count, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        RetryJob job;
        await using (var command = new NpgsqlCommand("""
            select id, requested_at, requested_by, selection, total, sent, skipped, finished_at from monitor.retry_jobs
            where finished_at is null order by requested_at limit 1
            """, connection))
        {
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                return null;
            }

            job = Read(reader);
        }

        await using var items = new NpgsqlCommand(
            "select failed_message_id from monitor.retry_job_items where job_id = @job and not done order by failed_message_id limit @count", connection);
        items.Parameters.AddWithValue("job", job.Id);
        items.Parameters.AddWithValue("count", count);
        var ids = new List<Guid>();
        await using (var reader = await items.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                ids.Add(reader.GetGuid(0));
            }
        }

        return (job, ids);
    }

    /// <summary>Marks ids done with how many were sent and skipped; finishes the job when none is left.</summary>
    public async Task ProgressAsync(Guid job, IReadOnlyList<Guid> done, int sent, int skipped, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            update monitor.retry_job_items set done = true where job_id = @job and failed_message_id = any(@ids);
            update monitor.retry_jobs set sent = sent + @sent, skipped = skipped + @skipped,
                finished_at = case when exists (select 1 from monitor.retry_job_items where job_id = @job and not done) then null else @now end
            where id = @job;
            """);
        command.Parameters.AddWithValue("job", job);
        command.Parameters.Add(new NpgsqlParameter<Guid[]>("ids", [.. done]));
        command.Parameters.AddWithValue("sent", sent);
        command.Parameters.AddWithValue("skipped", skipped);
        command.Parameters.AddWithValue("now", clock.GetUtcNow());
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static RetryJob Read(NpgsqlDataReader reader) => new(reader.GetGuid(0), reader.GetFieldValue<DateTimeOffset>(1), reader.GetString(2),
        reader.GetString(3), reader.GetInt32(4), reader.GetInt32(5), reader.GetInt32(6),
        reader.IsDBNull(7) ? null : reader.GetFieldValue<DateTimeOffset>(7));
}

/// <summary>
/// Works through bulk retry jobs, oldest first, a chunk at a time: the chunk's messages are claimed together, sent
/// together and confirmed together; one no longer unresolved is skipped. A broker that is down pauses the job, which goes
/// on once it is back.
/// </summary>
public sealed partial class RetryJobWorker(RetryJobStore jobs, FailedMessageRetrier retrier, ILogger<RetryJobWorker> logger) : BackgroundService
{
    private const int Chunk = 500;

    private readonly SemaphoreSlim _wake = new(0);

    /// <summary>A job was created: look now rather than at the next poll.</summary>
    public void Wake() => _wake.Release();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var backoff = TimeSpan.FromMilliseconds(500);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (await jobs.NextAsync(Chunk, stoppingToken) is not var (job, ids))
                {
                    await _wake.WaitAsync(TimeSpan.FromSeconds(2), stoppingToken);
                    continue;
                }

                if (ids.Count > 0)
                {
                    var (sent, _) = await retrier.RetryManyAsync(ids, $"{job.RequestedBy} (bulk retry {job.Id:N})", stoppingToken);
                    // A message whose publish failed was given back (unresolved) and is counted as skipped.
                    await jobs.ProgressAsync(job.Id, ids, sent, ids.Count - sent, stoppingToken);
                }
                else
                {
                    await jobs.ProgressAsync(job.Id, ids, 0, 0, stoppingToken);
                }

                backoff = TimeSpan.FromMilliseconds(500);
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                LogPaused(exception, backoff.TotalMilliseconds);
                await Task.Delay(backoff, stoppingToken);
                backoff = EventReplay.Hosting.Backoff.Next(backoff);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Bulk retry paused; going on in {DelayMs} ms")]
    private partial void LogPaused(Exception exception, double delayMs);
}
