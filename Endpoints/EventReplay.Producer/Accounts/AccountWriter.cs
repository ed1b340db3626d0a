using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using EventReplay.Contracts.Accounts;
using EventReplay.EventLog;
using EventReplay.Producer.Idempotency;
using EventReplay.Producer.Publishing;
using Marten;
using Npgsql;

namespace EventReplay.Producer.Accounts;

public sealed record CommandOptions(string? IdempotencyKey, VersionPrecondition? Precondition);

public abstract record WriteResult
{
    public sealed record Recorded(string AccountId, long Version, long Position, bool Created) : WriteResult;

    public sealed record Refused(Rejection Rejection) : WriteResult;

    public sealed record VersionMismatch(long Actual) : WriteResult;

    public sealed record KeyReused : WriteResult;

    /// <summary>More commands are waiting than the writer takes: answered 503 with Retry-After, nothing written.</summary>
    public sealed record Busy : WriteResult;
}

/// <summary>How the writer groups commands (configuration section <c>Producer</c>).</summary>
public sealed record WriterOptions
{
    /// <summary>Writers committing at once, each on its own connection: while one commits, the next batch gathers.</summary>
    public int Writers { get; init; } = 2;

    /// <summary>The most commands one transaction takes.</summary>
    public int MaxBatch { get; init; } = 256;

    /// <summary>Commands that may wait for a writer; one more is answered 503.</summary>
    public int QueueCapacity { get; init; } = 4096;

    /// <summary>Streams whose state is kept between batches (trusted only while its version is the store's).</summary>
    public int CachedStreams { get; init; } = 100_000;
}

/// <summary>
/// Group commit: account commands wait in a bounded queue, and each writer takes all that are waiting (up to
/// <see cref="WriterOptions.MaxBatch"/>) into one transaction on its own connection: it locks their streams and keys in
/// a fixed order, reads their versions, states and idempotency records at once, decides each command in arrival
/// order exactly as one command alone would be decided, draws the positions under the append lock, writes everything
/// with one statement per table and commits once. The answers go out after the commit; a commit whose outcome is
/// unknown (the connection broke) answers every command of the batch 503, and the idempotency key makes the retry safe.
/// </summary>
public sealed partial class AccountWriter(NpgsqlDataSource dataSource, IDocumentStore store, PublishSignal published,
    WriterOptions options, ILogger<AccountWriter> logger) : BackgroundService
{
    private static readonly StreamTables Tables = new("account", $"{EventTable.Schema}.mt_doc_account", typeof(Account).FullName!,
        $"{EventTable.Schema}.mt_doc_idempotencyrecord", typeof(IdempotencyRecord).FullName!);

    private static readonly Dictionary<Type, (string Name, string DotnetType)> EventNames = AccountEventTypes.All.ToDictionary(
        pair => pair.Value, pair => (pair.Key, $"{pair.Value.FullName}, {pair.Value.Assembly.GetName().Name}"));

    // Attempts of a batch that met a writer which does not take our locks (a unique version or key already there).
    private const int MaxAttempts = 3;

    private readonly Channel<PendingCommand> _queue = Channel.CreateBounded<PendingCommand>(
        new BoundedChannelOptions(options.QueueCapacity) { FullMode = BoundedChannelFullMode.Wait });

    private readonly ConcurrentDictionary<string, CachedStream> _cache = new(StringComparer.Ordinal);

    private readonly Marten.ISerializer _serializer = store.Options.Serializer();

    public Task<WriteResult> WriteAsync(AccountCommand command, CommandOptions commandOptions, CancellationToken cancellationToken)
    {
        // The request's hash matters only with a key (it tells a retry from another request under the same key).
        var requestHash = commandOptions.IdempotencyKey is null ? "" : IdempotencyRecord.Hash(command);
        var pending = new PendingCommand(command, commandOptions, requestHash, Activity.Current?.Id, cancellationToken);
        return _queue.Writer.TryWrite(pending) ? pending.Completion : Task.FromResult<WriteResult>(new WriteResult.Busy());
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(Enumerable.Range(0, Math.Max(1, options.Writers)).Select(_ => Task.Run(() => WriteBatchesAsync(stoppingToken), stoppingToken)));

    private async Task WriteBatchesAsync(CancellationToken stoppingToken)
    {
        NpgsqlConnection? connection = null;
        var batch = new List<PendingCommand>(options.MaxBatch);
        try
        {
            while (await _queue.Reader.WaitToReadAsync(stoppingToken))
            {
                batch.Clear();
                while (batch.Count < options.MaxBatch && _queue.Reader.TryRead(out var pending))
                {
                    // Its request already answered 503 at its deadline: not written, so its retry is decided afresh.
                    if (!pending.TryDropCancelled())
                    {
                        batch.Add(pending);
                    }
                }

                if (batch.Count == 0)
                {
                    continue;
                }

                for (var attempt = 1; ; attempt++)
                {
                    var progress = new BatchProgress();
                    try
                    {
                        // Its own connection, kept open: its prepared statements stay, and no pool reset runs between batches.
                        connection ??= await dataSource.OpenConnectionAsync(stoppingToken);
                        await CommitAsync(connection, batch, progress, stoppingToken);
                        break;
                    }
                    catch (Exception exception) when (exception is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                    {
                        // The connection may be broken or in an unknown state: a fresh one from here on.
                        var broken = connection is not { State: System.Data.ConnectionState.Open };
                        await DisposeAsync(connection);
                        connection = null;
                        if (attempt == 1 && broken && !progress.Committing)
                        {
                            // It died while it waited for this batch (a restarted server, a terminated backend): nothing
                            // of the batch was committed, so it goes again once, on a fresh connection.
                            continue;
                        }

                        LogBatchFailed(exception, batch.Count);
                        batch.ForEach(pending => pending.Fail(exception));
                        break;
                    }
                }
            }
        }
        finally
        {
            await DisposeAsync(connection);
            batch.ForEach(pending => pending.Fail(new OperationCanceledException("The producer is stopping.")));
        }
    }

    private async Task CommitAsync(NpgsqlConnection connection, List<PendingCommand> batch, BatchProgress progress,
        CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await CommitOnceAsync(connection, batch, progress, cancellationToken);
                return;
            }
            catch (PostgresException exception) when (IsConflict(exception) && attempt < MaxAttempts && !progress.Committing
                                                      && connection.State == System.Data.ConnectionState.Open)
            {
                // Someone wrote these streams or keys without our locks: read again and decide again.
                batch.ForEach(pending => _cache.TryRemove(pending.Command.AccountId, out _));
            }
            catch (PostgresException) when (batch.Count > 1 && !progress.Committing && connection.State == System.Data.ConnectionState.Open)
            {
                // One command's failure must not fail the others: each on its own, so only the failing one fails. Some
                // of them commit from here on, so the batch as a whole is never tried again.
                progress.Committing = true;
                foreach (var pending in batch)
                {
                    try
                    {
                        await CommitAsync(connection, [pending], new BatchProgress(), cancellationToken);
                    }
                    catch (PostgresException exception)
                    {
                        pending.Fail(exception);
                    }
                }

                return;
            }
        }
    }

    private async Task CommitOnceAsync(NpgsqlConnection connection, List<PendingCommand> batch, BatchProgress progress,
        CancellationToken cancellationToken)
    {
        var streamIds = batch.Select(pending => pending.Command.AccountId).Distinct(StringComparer.Ordinal).ToList();
        var keys = batch.Select(pending => pending.Options.IdempotencyKey).OfType<string>().Distinct(StringComparer.Ordinal).ToList();
        // The cached states this batch may use, taken once: the store returns a snapshot for every stream whose
        // version is not the one taken here.
        var cached = new Dictionary<string, CachedStream>(StringComparer.Ordinal);
        foreach (var id in streamIds)
        {
            if (_cache.TryGetValue(id, out var entry))
            {
                cached[id] = entry;
            }
        }

        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var (stored, records) = await StreamBatch.LockAndReadAsync(connection, Tables, streamIds,
            cached.ToDictionary(entry => entry.Key, entry => entry.Value.Version, StringComparer.Ordinal), keys, cancellationToken);
        var streams = new Dictionary<string, StreamState>(StringComparer.Ordinal);
        foreach (var id in streamIds)
        {
            streams[id] = stored.TryGetValue(id, out var found)
                ? new StreamState(StateOf(found, cached.GetValueOrDefault(id)), found.Version, false)
                : new StreamState(null, 0, false);
        }

        var decided = Decide(batch, streams, records);
        var positions = decided.Events.Count > 0
            ? await StreamBatch.DrawPositionsAsync(connection, decided.Events.Count, cancellationToken)
            : [];
        var answers = new WriteResult[batch.Count];
        var newRecords = new List<(string Key, string Data)>();
        for (var i = 0; i < batch.Count; i++)
        {
            var pending = batch[i];
            answers[i] = decided.Outcomes[i] switch
            {
                Outcome.Answered answered => answered.Result,
                Outcome.Appended appended => new WriteResult.Recorded(pending.Command.AccountId, decided.Events[appended.Event].Version,
                    positions[appended.Event], pending.Command is OpenAccount),
                Outcome.AsEarlier earlier => answers[earlier.Index],
                _ => throw new UnreachableException(),
            };
            if (decided.Outcomes[i] is { Kept: true } && pending.Options.IdempotencyKey is { } key)
            {
                newRecords.Add((key, _serializer.ToJson(IdempotencyRecord.For(key, pending.RequestHash, pending.Command.AccountId, answers[i]))));
            }
        }

        var changed = streams.Where(stream => stream.Value.Changed).ToList();
        var snapshots = changed.Select(stream => new NewSnapshot(stream.Key, stream.Value.Version, _serializer.ToJson(stream.Value.State))).ToList();
        await StreamBatch.WriteAsync(connection, Tables, decided.Events, positions, snapshots, newRecords,
            barrier: decided.Outcomes.Any(outcome => outcome is not Outcome.Appended), cancellationToken);
        // From here on the outcome may be unknown: the batch is never tried again, and each command is answered 503.
        progress.Committing = true;
        await transaction.CommitAsync(cancellationToken);

        if (_cache.Count > options.CachedStreams)
        {
            _cache.Clear();
        }

        foreach (var (id, stream) in changed)
        {
            // Newer versions only: another writer may have committed a later batch of this stream and cached it first.
            var entry = new CachedStream(stream.Version, stream.State!);
            _cache.AddOrUpdate(id, entry, (_, kept) => kept.Version >= entry.Version ? kept : entry);
        }

        if (decided.Events.Count > 0)
        {
            published.Notify();
        }

        for (var i = 0; i < batch.Count; i++)
        {
            batch[i].Answer(answers[i]);
        }
    }

    /// <summary>Each command in arrival order, against the state the earlier ones of the batch left.</summary>
    private Decided Decide(List<PendingCommand> batch, Dictionary<string, StreamState> streams, Dictionary<string, string> records)
    {
        var outcomes = new Outcome[batch.Count];
        var events = new List<NewEvent>();
        // Whose answer each key gives: the stored record's, else the first command of the batch that used it.
        var owners = new Dictionary<string, (string RequestHash, Outcome Answer)>(StringComparer.Ordinal);
        for (var i = 0; i < batch.Count; i++)
        {
            var (command, commandOptions, requestHash, traceParent) = (batch[i].Command, batch[i].Options, batch[i].RequestHash, batch[i].TraceParent);
            if (commandOptions.IdempotencyKey is { } key)
            {
                if (!owners.TryGetValue(key, out var owner) && records.TryGetValue(key, out var json))
                {
                    var prior = FromJson<IdempotencyRecord>(json);
                    owners[key] = owner = (prior.RequestHash, new Outcome.Answered(prior.ToResult()));
                }

                if (owner.Answer is not null)
                {
                    // A retry, earlier in this batch or before it: the same answer, or 422 for another request.
                    outcomes[i] = owner.RequestHash == requestHash ? owner.Answer : new Outcome.Answered(new WriteResult.KeyReused());
                    continue;
                }

                owners[key] = (requestHash, new Outcome.AsEarlier(i));
            }

            var stream = streams[command.AccountId];
            var exists = stream.State is not null;
            if ((exists || command is OpenAccount) && commandOptions.Precondition is { } precondition && !precondition.IsMetBy(exists, stream.Version))
            {
                outcomes[i] = new Outcome.Answered(new WriteResult.VersionMismatch(stream.Version));
                continue;
            }

            var decision = AccountDecisions.Decide(stream.State, command);
            if (decision.Rejection is { } rejection)
            {
                // A refusal is an answer too: a retry with the key gets it again rather than a fresh decision.
                outcomes[i] = new Outcome.Answered(new WriteResult.Refused(rejection), Kept: true);
                continue;
            }

            var @event = decision.Event!;
            var version = stream.Version + 1;
            streams[command.AccountId] = new StreamState(AccountDecisions.Evolve(stream.State, @event), version, true);
            var (name, dotnetType) = EventNames[@event.GetType()];
            events.Add(new NewEvent(command.AccountId, version, name, dotnetType, _serializer.ToJson(@event), traceParent));
            outcomes[i] = new Outcome.Appended(events.Count - 1);
        }

        return new Decided(outcomes, events);
    }

    /// <summary>The state read under the lock, or the cached one the batch took when the store's version says it is current.</summary>
    private Account? StateOf(StoredStream stored, CachedStream? cached)
    {
        if (stored.Snapshot is { } json)
        {
            return FromJson<Account>(json);
        }

        return cached is not null && cached.Version == stored.Version ? cached.State : null;
    }

    private T FromJson<T>(string json)
    {
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(json));
        return _serializer.FromJson<T>(stream);
    }

    // A unique version or key written by someone who did not take our locks, or a deadlock with such a writer.
    private static bool IsConflict(PostgresException exception) =>
        exception.SqlState is PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.DeadlockDetected;

    private static async Task DisposeAsync(NpgsqlConnection? connection)
    {
        if (connection is not null)
        {
            await connection.DisposeAsync();
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A batch of {Count} commands failed; each is answered with the failure")]
    private partial void LogBatchFailed(Exception exception, int count);

    /// <summary>How far a batch's attempt went: once its COMMIT was sent, its outcome may be unknown.</summary>
    private sealed class BatchProgress
    {
        public bool Committing { get; set; }
    }

    private sealed record CachedStream(long Version, Account State);

    private readonly record struct StreamState(Account? State, long Version, bool Changed);

    private sealed record Decided(Outcome[] Outcomes, List<NewEvent> Events);

    private abstract record Outcome(bool Kept)
    {
        /// <summary>Answered from what was read (a refusal is kept with its key; a mismatch or a reused key is not).</summary>
        public sealed record Answered(WriteResult Result, bool Kept = false) : Outcome(Kept);

        /// <summary>Appends the batch's event at this index; kept with its key.</summary>
        public sealed record Appended(int Event) : Outcome(true);

        /// <summary>The same key and request as an earlier command of the batch: its answer.</summary>
        public sealed record AsEarlier(int Index) : Outcome(false);
    }

    private sealed class PendingCommand(AccountCommand command, CommandOptions options, string requestHash, string? traceParent,
        CancellationToken cancellationToken)
    {
        private readonly TaskCompletionSource<WriteResult> _answer = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public AccountCommand Command { get; } = command;

        public CommandOptions Options { get; } = options;

        public string RequestHash { get; } = requestHash;

        public string? TraceParent { get; } = traceParent;

        public Task<WriteResult> Completion => _answer.Task;

        public void Answer(WriteResult result) => _answer.TrySetResult(result);

        public void Fail(Exception exception) => _answer.TrySetException(exception);

        public bool TryDropCancelled() => cancellationToken.IsCancellationRequested && _answer.TrySetCanceled(cancellationToken);
    }
}
