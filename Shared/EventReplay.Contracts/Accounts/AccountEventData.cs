using System.Text.Json;
using System.Text.Json.Serialization;

namespace EventReplay.Contracts.Accounts;

/// <summary>Reads the data of a recorded account event into its contract record, by its stable type name.</summary>
public static class AccountEventData
{
    private static readonly JsonSerializerOptions Options = new(StrictJson.Options)
    {
        NumberHandling = JsonNumberHandling.Strict,
    };

    public static object Read(RecordedEvent recorded)
    {
        if (!AccountEventTypes.All.TryGetValue(recorded.Type, out var type))
        {
            throw new InvalidEventException($"Unknown event type '{recorded.Type}' at position {recorded.Position}.");
        }

        try
        {
            return recorded.Data.Deserialize(type, Options)
                ?? throw new InvalidEventException($"{recorded.Type} at position {recorded.Position} has no data.");
        }
        catch (JsonException exception)
        {
            throw new InvalidEventException($"{recorded.Type} at position {recorded.Position} has unreadable data: {exception.Message}", exception);
        }
    }
}

/// <summary>An event no consumer can apply however often it retries: it belongs in dead-letter storage.</summary>
public sealed class InvalidEventException(string message, Exception? inner = null) : Exception(message, inner);
