using EventReplay.Producer.EventLog;
using EventReplay.Producer.Idempotency;
using JasperFx;
using JasperFx.Events;
using Marten;
using Marten.Exceptions;
using Npgsql;

namespace EventReplay.Producer.Accounts;

public sealed record CommandOptions(string? IdempotencyKey, long? ExpectedVersion);

public abstract record WriteResult
{
    public sealed record Recorded(string AccountId, long Version, long Position, bool Created) : WriteResult;

    public sealed record Refused(Rejection Rejection) : WriteResult;

    public sealed record VersionMismatch(long Expected, long Actual) : WriteResult;

    public sealed record KeyReused : WriteResult;

    public sealed record Contended : WriteResult;
}

/// <summary>
/// Runs one account command against the event store: read the stream, decide, append under optimistic
/// concurrency, and record the idempotency key in the same transaction as the append.
/// </summary>
public sealed partial class AccountWriter(NpgsqlDataSource dataSource, IDocumentStore store, ILogger<AccountWriter> logger)
{
    // Enough for a burst of writers on one account; each retry re-reads the stream and decides again.
    private const int MaxAttempts = 10;

    public async Task<WriteResult> WriteAsync(AccountCommand command, CommandOptions options, CancellationToken cancellationToken)
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
                if (options.ExpectedVersion is { } expected)
                {
                    return new WriteResult.VersionMismatch(expected, await CurrentVersionAsync(command.AccountId, cancellationToken));
                }

                if (attempt == MaxAttempts)
                {
                    LogContended(command.AccountId, attempt);
                    return new WriteResult.Contended();
                }
            }
            catch (DocumentAlreadyExistsException) when (options.IdempotencyKey is not null && attempt < MaxAttempts)
            {
                // The same key was used at the same time on another account and won; the next pass answers 422.
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
        if (options.IdempotencyKey is { } usedKey
            && await session.LoadAsync<IdempotencyRecord>(usedKey, cancellationToken) is { } prior)
        {
            return await PriorResultAsync(prior, requestHash, cancellationToken);
        }

        var stream = await session.Events.FetchForWriting<Account>(command.AccountId, cancellationToken);
        var version = stream.StartingVersion ?? 0;
        if (stream.Aggregate is null && command is not OpenAccount)
        {
            return new WriteResult.Refused(Rejection.NotFound);
        }

        if (options.ExpectedVersion is { } expected && expected != version)
        {
            return new WriteResult.VersionMismatch(expected, version);
        }

        var decision = AccountDecisions.Decide(stream.Aggregate, command);
        if (decision.Rejection is { } rejection)
        {
            return new WriteResult.Refused(rejection);
        }

        stream.AppendOne(decision.Event!);
        var created = command is OpenAccount;
        if (options.IdempotencyKey is { } key)
        {
            session.Insert(new IdempotencyRecord(key, requestHash, command.AccountId, version + 1, created, DateTimeOffset.UtcNow));
        }

        await AppendLock.AcquireAsync(connection, transaction, cancellationToken);
        await session.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);

        var appended = stream.Events[^1];
        return new WriteResult.Recorded(command.AccountId, appended.Version, appended.Sequence, created);
    }

    private async Task<WriteResult> PriorResultAsync(IdempotencyRecord record, string requestHash, CancellationToken cancellationToken)
    {
        if (record.RequestHash != requestHash)
        {
            return new WriteResult.KeyReused();
        }

        var position = await EventLogReader.PositionOfAsync(dataSource, record.AccountId, record.Version, cancellationToken);
        return new WriteResult.Recorded(record.AccountId, record.Version, position, record.Created);
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
