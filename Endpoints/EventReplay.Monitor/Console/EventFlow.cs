using EventReplay.Contracts;
using EventReplay.EventLog;
using EventReplay.Hosting;
using Npgsql;

namespace EventReplay.Monitor.Console;

/// <summary>An event of a stream as the log holds it, with the trace of the request that appended it.</summary>
public sealed record StreamEvent(RecordedEvent Event, string? TraceId);

/// <summary>One step of an event's way: what, where, how it stands, and a detail.</summary>
public sealed record FlowStep(string Step, string Where, string Status, string Detail);

/// <summary>
/// Where an event went, from what the system records: the request that appended it (its trace id), its commit, the
/// publisher's checkpoint, and for each consumer its checkpoint (from its last heartbeat), whether it parked the event
/// or set it aside (the failed messages). The trace id links to the trace in the dashboard of traces, where the spans
/// of the request, the publish and each consumer's apply are.
/// </summary>
public sealed class EventFlow(EventStoreSource eventStore, NpgsqlDataSource readModels)
{
    public async Task<IReadOnlyList<StreamEvent>> StreamAsync(string streamId, CancellationToken cancellationToken)
    {
        var events = await EventLogReader.ReadStreamTracedAsync(eventStore.DataSource, streamId, 1000, cancellationToken);
        return [.. events.Select(traced => new StreamEvent(traced.Event, Telemetry.Parse(traced.TraceParent)?.TraceId.ToString()))];
    }

    public async Task<IReadOnlyList<FlowStep>> StepsAsync(StreamEvent streamEvent, CancellationToken cancellationToken)
    {
        var recorded = streamEvent.Event;
        var steps = new List<FlowStep>
        {
            new("command", "producer", "done", streamEvent.TraceId is null ? "appended without a trace" : $"request of trace {streamEvent.TraceId}"),
            new("committed", "event store", "done", $"position {recorded.Position}, version {recorded.Version} of {recorded.StreamId}, at {ConsoleHtml.Time(recorded.Timestamp)}"),
        };

        await using (var published = eventStore.DataSource.CreateCommand($"select position from {EventTable.Schema}.publisher_checkpoint"))
        {
            var checkpoint = await published.ExecuteScalarAsync(cancellationToken) as long?;
            steps.Add(checkpoint >= recorded.Position
                ? new FlowStep("published", "RabbitMQ: exchange events", "done", $"the publisher is at position {checkpoint}")
                : new FlowStep("published", "RabbitMQ: exchange events", "waiting", $"the publisher is at position {checkpoint?.ToString() ?? "?"}"));
        }

        foreach (var consumer in Topology.Consumers)
        {
            steps.Add(await ConsumerStepAsync(consumer, recorded, cancellationToken));
        }

        return steps;
    }

    private async Task<FlowStep> ConsumerStepAsync(string consumer, RecordedEvent recorded, CancellationToken cancellationToken)
    {
        var where = $"{consumer} (queue {Topology.LiveQueue(consumer)})";
        await using (var failed = readModels.CreateCommand("""
            select id, status, reason from monitor.failed_messages
            where endpoint = @consumer and stream_id = @stream and version = @version order by failed_at desc limit 1
            """))
        {
            failed.Parameters.AddWithValue("consumer", consumer);
            failed.Parameters.AddWithValue("stream", recorded.StreamId);
            failed.Parameters.AddWithValue("version", recorded.Version);
            await using var reader = await failed.ExecuteReaderAsync(cancellationToken);
            if (await reader.ReadAsync(cancellationToken) && reader.GetString(1) != "resolved")
            {
                return new FlowStep("applied", where, "set aside", $"failed message {reader.GetGuid(0)} ({reader.GetString(1)}): {reader.GetString(2)}");
            }
        }

        await using (var exists = readModels.CreateCommand($"select to_regclass('{consumer}.parked') is not null"))
        {
            if ((bool)(await exists.ExecuteScalarAsync(cancellationToken))!)
            {
                await using var parked = readModels.CreateCommand($"select reason from {consumer}.parked where stream_id = @stream and version = @version");
                parked.Parameters.AddWithValue("stream", recorded.StreamId);
                parked.Parameters.AddWithValue("version", recorded.Version);
                if (await parked.ExecuteScalarAsync(cancellationToken) is string reason)
                {
                    return new FlowStep("applied", where, "parked", reason);
                }
            }
        }

        await using var checkpoint = readModels.CreateCommand("""
            select (metrics->>'checkpoint')::double precision from monitor.endpoint_samples
            where endpoint = @consumer and metrics ? 'checkpoint' order by at desc limit 1
            """);
        checkpoint.Parameters.AddWithValue("consumer", consumer);
        return await checkpoint.ExecuteScalarAsync(cancellationToken) is double position
            ? position >= recorded.Position
                ? new FlowStep("applied", where, "done", $"its live copy is at position {position:0}")
                : new FlowStep("applied", where, "waiting", $"its live copy is at position {position:0}")
            : new FlowStep("applied", where, "unknown", "no heartbeat with its checkpoint yet");
    }
}
