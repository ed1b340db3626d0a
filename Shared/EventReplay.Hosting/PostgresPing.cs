using Npgsql;

namespace EventReplay.Hosting;

public static class PostgresPing
{
    /// <summary>Whether PostgreSQL answers a trivial query within the timeout; the failure when it does not.</summary>
    public static async Task<Exception?> FailureAsync(NpgsqlDataSource dataSource, TimeSpan timeout, CancellationToken cancellationToken)
    {
        // Separate timers for the query and for giving up on it: cancelling a query can block its token's callbacks.
        using var work = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        work.CancelAfter(timeout);
        wait.CancelAfter(timeout);
        try
        {
            await Deadline.Within(SelectOneAsync(dataSource, work.Token), wait.Token);
            return null;
        }
        catch (Exception exception) when (exception is NpgsqlException or OperationCanceledException or TimeoutException
            && !cancellationToken.IsCancellationRequested)
        {
            return exception;
        }
    }

    private static async Task<object?> SelectOneAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("select 1");
        return await command.ExecuteScalarAsync(cancellationToken);
    }
}
