using System.Text.Json;
using EventReplay.Contracts;
using EventReplay.Hosting;
using Npgsql;

namespace EventReplay.Messaging;

/// <summary>
/// Events a consumer cannot apply yet because an earlier version of their stream is missing (a gap). They wait in
/// the consumer's own <c>parked</c> table, with the reason, and are retried with every later batch, so the late or
/// redelivered earlier version heals the gap.
/// </summary>
public static class ParkedEvents
{
    public static string CreateTableSql(string schema) =>
        $"""
        create table if not exists {schema}.parked (
            position bigint not null,
            stream_id text not null,
            version bigint not null,
            type text not null,
            occurred_at timestamptz not null,
            data jsonb not null,
            reason text not null,
            parked_at timestamptz not null,
            primary key (stream_id, version));
        create table if not exists {schema}.repairs (
            stream_id text not null,
            waiting_version bigint not null,
            replay_id text not null,
            requested_at timestamptz not null,
            primary key (stream_id, waiting_version));
        """;

    /// <summary>The parked events and the batch, without repeats, in position order: what a batch must apply.</summary>
    public static async Task<(List<RecordedEvent> Parked, List<RecordedEvent> Events)> WithBatchAsync(
        NpgsqlConnection connection, string schema, IReadOnlyList<RecordedEvent> batch, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            $"select position, stream_id, version, type, occurred_at, data::text from {schema}.parked order by position limit 10000",
            connection);
        var parked = new List<RecordedEvent>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                parked.Add(new RecordedEvent(reader.GetInt64(0), reader.GetString(1), reader.GetInt64(2), reader.GetString(3),
                    reader.GetFieldValue<DateTimeOffset>(4), JsonElement.Parse(reader.GetString(5))));
            }
        }

        var events = parked.Concat(batch).DistinctBy(e => (e.StreamId, e.Version)).OrderBy(e => e.Position).ToList();
        return (parked, events);
    }

    /// <summary>Parks the gaps not parked yet and releases parked events that applied, were duplicates or are invalid.</summary>
    public static async Task UpdateAsync(NpgsqlConnection connection, string schema, List<RecordedEvent> parked,
        IReadOnlyList<RecordedEvent> gaps, CancellationToken cancellationToken)
    {
        var stillWaiting = gaps.Select(g => (g.StreamId, g.Version)).ToHashSet();
        var released = parked.Where(p => !stillWaiting.Contains((p.StreamId, p.Version))).ToList();
        var wasParked = parked.Select(p => (p.StreamId, p.Version)).ToHashSet();
        if (released.Count > 0)
        {
            await using var delete = new NpgsqlCommand(
                $"delete from {schema}.parked where (stream_id, version) in (select * from unnest(@streams, @versions))", connection);
            delete.Parameters.Add(new NpgsqlParameter<string[]>("streams", [.. released.Select(p => p.StreamId)]));
            delete.Parameters.Add(new NpgsqlParameter<long[]>("versions", [.. released.Select(p => p.Version)]));
            await delete.ExecuteNonQueryAsync(cancellationToken);
        }

        foreach (var gap in gaps.Where(g => !wasParked.Contains((g.StreamId, g.Version))))
        {
            await using var insert = new NpgsqlCommand(
                $"""
                insert into {schema}.parked (position, stream_id, version, type, occurred_at, data, reason, parked_at)
                values (@position, @stream, @version, @type, @occurred, @data::jsonb, @reason, now())
                on conflict (stream_id, version) do nothing
                """, connection);
            insert.Parameters.AddWithValue("position", gap.Position);
            insert.Parameters.AddWithValue("stream", gap.StreamId);
            insert.Parameters.AddWithValue("version", gap.Version);
            insert.Parameters.AddWithValue("type", gap.Type);
            insert.Parameters.AddWithValue("occurred", gap.Timestamp);
            insert.Parameters.AddWithValue("data", gap.Data.GetRawText());
            insert.Parameters.AddWithValue("reason", $"Waiting for version {gap.Version - 1} of {gap.StreamId}.");
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }
    }
}
