using System.Text.Json;
using EventReplay.Contracts.Accounts;
using EventReplay.EventLog;
using EventReplay.Hosting;
using EventReplay.Producer.EventLog;
using Marten;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using Npgsql;

namespace EventReplay.Producer.Accounts;

/// <summary>
/// The one-time work of the first commands and reads, done at start (see <see cref="IWarmUp"/>): the first command
/// after a start used 0.37-0.70 CPU s against 0.03-0.06 warm, and on a busy machine it ran past the 4 s deadline
/// (503). Nothing is left behind: a deposit to an account that does not exist goes through the writer's whole batch path and
/// is refused with nothing written, and the reads find nothing. The append itself stays cold: even rolled back, it
/// would burn a position of the log at every start.
/// </summary>
public sealed class AccountWarmUp(AccountWriter writer, IDocumentStore store, NpgsqlDataSource dataSource, IOptions<JsonOptions> json)
    : IWarmUp
{
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var absent = $"warm-up-{Guid.NewGuid():N}";
        await writer.WriteAsync(new DepositFunds(absent, 1m), new CommandOptions(null, null), cancellationToken);
        await EventLogReader.ReadStreamAsync(dataSource, absent, 1, 1, cancellationToken);
        await EventLogReader.StreamExistsAsync(dataSource, absent, cancellationToken);
        await using (var query = store.QuerySession())
        {
            await query.Events.AggregateStreamAsync<Account>(absent, token: cancellationToken);
        }

        // What an append writes (the events and the account's snapshot), with the store's serializer.
        var serializer = store.Options.Serializer();
        foreach (var written in new object[]
        {
            new AccountOpened(absent, "warm-up"), new FundsDeposited(absent, 1m), new FundsWithdrawn(absent, 1m),
            new AccountClosed(absent), new Account(absent, "warm-up", 0m, AccountStatus.Open),
        })
        {
            serializer.ToJson(written);
        }

        // Request and response bodies, with the options the endpoints use (they cache each type's metadata).
        var options = json.Value.SerializerOptions;
        JsonSerializer.Deserialize<OpenAccountRequest>("""{"accountId":"a","owner":"b"}""", options);
        JsonSerializer.Deserialize<AmountRequest>("""{"amount":1}""", options);
        JsonSerializer.SerializeToUtf8Bytes(new AccountRecorded(absent, 1, 1), options);
    }
}
