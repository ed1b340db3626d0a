using Npgsql;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>
/// A consumer's live apply lock (the per-read-model advisory lock every batch and the cut-over of a rebuild take),
/// held by the test in an open transaction: live batches and a cut-over queue for it, so a test can act while a
/// cut-over is known to be waiting, then let it go.
/// </summary>
public sealed class ApplyLockHold : IAsyncDisposable
{
    // The consumers' key space ("EVAP", ApplyLock.Space) and the lock of one schema, in pg_locks' two-int form.
    private const int Space = 0x4556_4150;

    private readonly string _postgres;
    private readonly string _schema;
    private readonly NpgsqlConnection _connection;
    private NpgsqlTransaction? _transaction;

    private ApplyLockHold(string postgres, string schema, NpgsqlConnection connection)
    {
        _postgres = postgres;
        _schema = schema;
        _connection = connection;
    }

    /// <summary>Takes the apply lock of <paramref name="schema"/> (a consumer's live copy is the schema named after it).</summary>
    public static async Task<ApplyLockHold> TakeAsync(string postgres, string schema)
    {
        var connection = new NpgsqlConnection(postgres);
        await connection.OpenAsync();
        var hold = new ApplyLockHold(postgres, schema, connection) { _transaction = await connection.BeginTransactionAsync() };
        await using var command = new NpgsqlCommand("select pg_advisory_xact_lock(@space, hashtext(@schema))", connection, hold._transaction);
        command.Parameters.AddWithValue("space", Space);
        command.Parameters.AddWithValue("schema", schema);
        await command.ExecuteNonQueryAsync();
        return hold;
    }

    /// <summary>Requests now waiting for the lock.</summary>
    public Task<long> WaitingAsync() => Database.ScalarAsync(_postgres,
        """
        select count(*) from pg_locks
        where locktype = 'advisory' and classid = @space and not granted
          and objid::bigint = (hashtext(@schema)::bigint + 4294967296) % 4294967296
        """, ("space", Space), ("schema", _schema));

    /// <summary>
    /// Waits until the cut-over of rebuild <paramref name="replayId"/> waits for the lock: the replay service has asked
    /// for it (the saga's <c>cutOverAttempt</c>), and two requests wait. A consumer asks for its live copy's lock from two
    /// loops, one request at a time each: the live queue's (batches, cache repair) and the replay queue's, whose only use
    /// of the live copy's lock during a rebuild is the cut-over (rebuild batches lock the fresh copy). Under live traffic
    /// the live loop soon waits too, so two requests waiting means the cut-over is one of them.
    /// </summary>
    public async Task WaitForCutOverAsync(string replayId, TimeSpan timeout) =>
        await Eventually.Until(async () => (Asked: await CutOverAskedAsync(replayId), Waiting: await WaitingAsync()),
            state => state.Asked && state.Waiting >= 2, timeout, $"the cut-over of {replayId} and a live batch to wait for the apply lock of {_schema}");

    private async Task<bool> CutOverAskedAsync(string replayId) =>
        await Database.ScalarAsync(_postgres,
            "select coalesce((select (data->>'cutOverAttempt')::int from replay.mt_doc_replay where id = @id), 0)", ("id", replayId)) > 0;

    /// <summary>Lets the lock go (commits the holding transaction).</summary>
    public async Task ReleaseAsync()
    {
        if (_transaction is { } transaction)
        {
            _transaction = null;
            await transaction.CommitAsync();
            await transaction.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await ReleaseAsync();
        }
        catch (Exception exception) when (exception is NpgsqlException or InvalidOperationException)
        {
            // The server went away (a test killed it) and the lock with it.
        }

        await _connection.DisposeAsync();
    }
}
