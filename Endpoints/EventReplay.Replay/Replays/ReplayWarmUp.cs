using System.Text.Json;
using EventReplay.Contracts;
using EventReplay.Contracts.Replays;
using EventReplay.Hosting;
using EventReplay.Hosting.Security;
using Marten;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using Npgsql;
using Wolverine;
using Wolverine.Marten.Publishing;

namespace EventReplay.Replay.Replays;

/// <summary>
/// The one-time work of the first replay requests, done at start (see <see cref="IWarmUp"/>): the first
/// <c>POST /api/replays</c> after a start compiled ~1,900 methods and built Marten's storage for <see cref="Replay"/>,
/// 0.3-0.6 CPU s against 0.03 warm, and on a busy machine it ran past the 4 s deadline (503). Nothing is left
/// behind: the reads look for a replay that does not exist, the saga's insert and revisioned update and the audit
/// entry are rolled back, and the pause and the plan (sent through the outbox, as a start's is) are for a replay that
/// does not exist (the saga's <c>NotFound</c>, which writes nothing; the plan reads one absent stream).
/// </summary>
public sealed class ReplayWarmUp(IDocumentStore store, NpgsqlDataSource dataSource, IServiceScopeFactory scopes,
    AuditLog audit, IOptions<JsonOptions> json, TimeProvider clock) : IWarmUp
{
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var absent = $"warm-up-{Guid.NewGuid():N}";
        var target = Topology.Consumers[0];
        await using (var query = store.QuerySession())
        {
            await query.LoadAsync<Replay>(absent, cancellationToken);
            await ReplayRules.RunningRebuildAsync(query, target, DateTimeOffset.MaxValue, absent, cancellationToken);
            await ReplayEndpoints.NewestAsync(query, 1, cancellationToken);
        }

        var (replay, _) = Replay.Create(new StartReplay(absent, target, ReplayModes.Redeliver), clock);
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        await using (var transaction = await connection.BeginTransactionAsync(cancellationToken))
        await using (var session = store.LightweightSession(Marten.Services.SessionOptions.ForTransaction(transaction)))
        {
            session.Insert(replay);
            await session.SaveChangesAsync(cancellationToken);
            session.UpdateRevision(replay, replay.Version + 1);
            await session.SaveChangesAsync(cancellationToken);
            await transaction.RollbackAsync(cancellationToken);
        }

        await using (var scope = scopes.CreateAsyncScope())
        {
            var bus = scope.ServiceProvider.GetRequiredService<IMessageBus>();
            await bus.InvokeAsync(new PauseReplay(absent), cancellationToken);
            await using var session = scope.ServiceProvider.GetRequiredService<OutboxedSessionFactory>().OpenSession(bus);
            var plan = new StartReplay(absent, target, ReplayModes.Redeliver, StreamIds: [absent]);
            await bus.PublishAsync(new PlanReplay(absent, ReplayRules.Selection(plan, long.MaxValue)));
            await session.SaveChangesAsync(cancellationToken);
        }

        await audit.WarmUpAsync(cancellationToken);

        // Request and response bodies, with the options the endpoints use (they cache each type's metadata).
        JsonSerializer.Deserialize<ReplayRequest>($$"""{"target":"{{target}}","mode":"{{ReplayModes.Redeliver}}"}""",
            json.Value.SerializerOptions);
        JsonSerializer.SerializeToUtf8Bytes(ReplayView.Of(replay, clock.GetUtcNow()), json.Value.SerializerOptions);
    }
}
