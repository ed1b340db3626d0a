using System.Diagnostics;
using EventReplay.EventLog;
using EventReplay.Hosting;
using EventReplay.Producer.EventLog;
using EventReplay.Producer.Idempotency;
using EventReplay.Producer.Publishing;
using JasperFx;
using JasperFx.Events;
using Marten;
using Marten.Exceptions;
using Npgsql;

namespace EventReplay.Producer.Accounts;

public sealed record CommandOptions(string? IdempotencyKey, VersionPrecondition? Precondition);

public abstract record WriteResult
{
    public sealed record Recorded(string AccountId, long Version, long Position, bool Created) : WriteResult;

    public sealed record Refused(Rejection Rejection) : WriteResult;

    public sealed record VersionMismatch(long Actual) : WriteResult;

    public sealed record KeyReused : WriteResult;

    public sealed record Contended : WriteResult;
}

/// <summary>
/// Runs one account command against the event store: read the stream, decide, append under optimistic
/// concurrency, and record the idempotency key with its outcome in the same transaction.
/// </summary>
public sealed partial class AccountWriter(NpgsqlDataSource dataSource, IDocumentStore store, PublishSignal published,
    ILogger<AccountWriter> logger)
{
    // Each retry re-reads the stream and decides again; with the stream lock below, retries are rare.
    private const int MaxAttempts = 10;

    // Commands on one account wait here, holding no database connection, so a hot account cannot drain the
    // pool. Striped rather than per account to keep memory bounded; a shared stripe only adds a short wait.
    private static readonly SemaphoreSlim[] Queues = [.. Enumerable.Range(0, 512).Select(_ => new SemaphoreSlim(1, 1))];

    public async Task<WriteResult> WriteAsync(AccountCommand command, CommandOptions options, CancellationToken cancellationToken)
    {
        // Bounded by the request's deadline: a queue that does not move in time is answered like a slow database.
        var queue = Queues[(uint)StringComparer.Ordinal.GetHashCode(command.AccountId) % (uint)Queues.Length];
        await queue.WaitAsync(cancellationToken);

        try
        {
            return await WriteWithRetriesAsync(command, options, cancellationToken);
        }
        finally
        {
            queue.Release();
        }
    }

    private async Task<WriteResult> WriteWithRetriesAsync(AccountCommand command, CommandOptions options, CancellationToken cancellationToken)
    {
        var requestHash = IdempotencyRecord.Hash(command);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await WriteOnceAsync(command, options, requestHash, cancellationToken);
            }
            catch (Exception exception) when (IsStreamConflict(exception))
            {
                if (options.Precondition is not null)
                {
                    return new WriteResult.VersionMismatch(await CurrentVersionAsync(command.AccountId, cancellationToken));
                }

                if (attempt == MaxAttempts)
                {
                    LogContended(command.AccountId, attempt);
                    return new WriteResult.Contended();
                }
            }
            catch (DocumentAlreadyExistsException) when (options.IdempotencyKey is not null && attempt < MaxAttempts)
            {
                // The same key was used at the same moment on another account and won; the next pass answers 422.
            }
        }
    }

    private async Task<WriteResult> WriteOnceAsync(AccountCommand command, CommandOptions options, string requestHash,
        CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var session = store.LightweightSession(Marten.Services.SessionOptions.ForTransaction(transaction));
        await AppendLock.LockStreamAsync(connection, transaction, command.AccountId, cancellationToken);

        // Checked under the stream lock, so a concurrent retry of the same request waits for the first and finds its key.
        var key = options.IdempotencyKey;
        if (key is not null && await session.LoadAsync<IdempotencyRecord>(key, cancellationToken) is { } prior)
        {
            // The record may be a commit its synchronous standby never confirmed: answered from only once it has.
            await SynchronousStandby.BarrierAsync(connection, transaction, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return prior.RequestHash == requestHash ? prior.ToResult() : new WriteResult.KeyReused();
        }

        var stream = await session.Events.FetchForWriting<Account>(command.AccountId, cancellationToken);
        var version = stream.StartingVersion ?? 0;
        if (stream.Aggregate is not null || command is OpenAccount)
        {
            if (options.Precondition is { } precondition && !precondition.IsMetBy(stream.Aggregate is not null, version))
            {
                return new WriteResult.VersionMismatch(version);
            }
        }

        var decision = stream.Aggregate is null && command is not OpenAccount
            ? Decision.Refuse(Rejection.NotFound)
            : AccountDecisions.Decide(stream.Aggregate, command);
        if (decision.Rejection is { } rejection)
        {
            var refused = new WriteResult.Refused(rejection);
            if (key is not null)
            {
                // A refusal is an answer too: a retry with the key gets it again rather than a fresh decision.
                session.Insert(IdempotencyRecord.For(key, requestHash, command.AccountId, refused));
                await session.SaveChangesAsync(cancellationToken);
            }

            // It may rest on events the synchronous standby has not confirmed yet: answered once it has.
            await SynchronousStandby.BarrierAsync(connection, transaction, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return refused;
        }

        stream.AppendOne(decision.Event!);
        if (Activity.Current?.Id is { } traceParent)
        {
            // Kept with the event so the publisher and the consumers continue this request's trace.
            session.SetHeader(Telemetry.TraceParent, traceParent);
        }

        await AppendLock.AcquireAsync(connection, transaction, cancellationToken);
        await session.SaveChangesAsync(cancellationToken);

        var appended = stream.Events[^1];
        var recorded = new WriteResult.Recorded(command.AccountId, appended.Version, appended.Sequence, command is OpenAccount);
        if (key is not null)
        {
            // Saved after the append, once its position is known, and committed with it.
            session.Insert(IdempotencyRecord.For(key, requestHash, command.AccountId, recorded));
            await session.SaveChangesAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        published.Notify();
        return recorded;
    }

    private async Task<long> CurrentVersionAsync(string accountId, CancellationToken cancellationToken)
    {
        await using var session = store.QuerySession();
        var state = await session.Events.FetchStreamStateAsync(accountId, cancellationToken);
        return state?.Version ?? 0;
    }

    private static bool IsStreamConflict(Exception exception) =>
        exception is ConcurrencyException or EventStreamUnexpectedMaxEventIdException
            or Marten.Exceptions.ExistingStreamIdCollisionException or JasperFx.Events.ExistingStreamIdCollisionException;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Account {AccountId} still contended after {Attempts} attempts")]
    private partial void LogContended(string accountId, int attempts);
}
