using System.Runtime.InteropServices;
using System.Text.Json;

namespace EventReplay.Contracts.Replays;

/// <summary>
/// Reads a <see cref="ReplayBatch"/> from its JSON as <see cref="JsonSerializer"/> with <see cref="StrictJson.Options"/>
/// would (property names in any case, numbers also as strings, unknown properties ignored, missing ones default, a
/// property given twice refused), but with one parse of the whole message: every event's
/// <see cref="RecordedEvent.Data"/> is an element of that one document, where the serializer builds a document per
/// event. Replay batches carry hundreds of events each, so this is most of a consumer's reading work.
/// </summary>
public static class ReplayBatchReader
{
    private static readonly PropertyNames BatchNames = new("replayId", "sequence", "mode", "events");

    private static readonly PropertyNames EventNames = new("position", "streamId", "version", "type", "timestamp", "data");

    /// <summary>The batch, or a <see cref="JsonException"/> saying why the body is not one.</summary>
    /// <param name="body">The message body; the batch's event data refers to it, so it must not be reused.</param>
    public static ReplayBatch Read(ReadOnlyMemory<byte> body) => Read(body, out _);

    /// <summary>
    /// The batch, and the document its events' data are elements of: disposing it gives its (pooled) index back and
    /// ends the batch's life, so a reader of many batches does not leave one large array per batch to the GC.
    /// </summary>
    /// <param name="body">The message body; the batch's event data refers to it, so it must not be reused while the batch lives.</param>
    public static ReplayBatch Read(ReadOnlyMemory<byte> body, out IDisposable document)
    {
        var parsed = JsonDocument.Parse(body);
        try
        {
            var batch = ReadBatch(parsed.RootElement);
            document = parsed;
            return batch;
        }
        catch (Exception exception)
        {
            parsed.Dispose();
            if (exception is InvalidOperationException or FormatException or OverflowException)
            {
                throw new JsonException($"Not a replay batch: {exception.Message}", exception);
            }

            throw;
        }
    }

    private static ReplayBatch ReadBatch(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new JsonException($"Not a replay batch: a JSON {root.ValueKind} instead of an object.");
        }

        string? replayId = null, mode = null;
        var sequence = 0;
        List<RecordedEvent>? events = null;
        int seen = 0, index = 0;
        foreach (var property in root.EnumerateObject())
        {
            switch (BatchNames.IndexOf(property, ref seen))
            {
                case 0:
                    replayId = property.Value.GetString();
                    break;
                case 1:
                    sequence = checked((int)Number(property.Value));
                    break;
                case 2:
                    mode = property.Value.GetString();
                    break;
                case 3 when property.Value.ValueKind == JsonValueKind.Array:
                    events = new List<RecordedEvent>(property.Value.GetArrayLength());
                    var repeated = new RepeatedStrings();
                    foreach (var element in property.Value.EnumerateArray())
                    {
                        events.Add(ReadEvent(element, repeated));
                    }

                    break;
                case 3 when property.Value.ValueKind != JsonValueKind.Null:
                    throw new JsonException($"Not a replay batch: events is a JSON {property.Value.ValueKind}.");
                case -1:
                    Duplicates.RefuseInUnread(root, property, index);
                    break;
            }

            index++;
        }

        return new ReplayBatch(replayId!, sequence, mode!, events!);
    }

    private static RecordedEvent ReadEvent(JsonElement element, RepeatedStrings repeated)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new JsonException($"Not a recorded event: a JSON {element.ValueKind} instead of an object.");
        }

        long position = 0, version = 0;
        string? streamId = null, type = null;
        DateTimeOffset timestamp = default;
        JsonElement data = default;
        int seen = 0, index = 0;
        foreach (var property in element.EnumerateObject())
        {
            switch (EventNames.IndexOf(property, ref seen))
            {
                case 0:
                    position = Number(property.Value);
                    break;
                case 1:
                    streamId = repeated.StreamId(property.Value);
                    break;
                case 2:
                    version = Number(property.Value);
                    break;
                case 3:
                    type = repeated.Type(property.Value);
                    break;
                case 4:
                    timestamp = property.Value.GetDateTimeOffset();
                    break;
                case 5:
                    data = property.Value;
                    Duplicates.Refuse(data);
                    break;
                case -1:
                    Duplicates.RefuseInUnread(element, property, index);
                    break;
            }

            index++;
        }

        return new RecordedEvent(position, streamId!, version, type!, timestamp, data);
    }

    /// <summary>A whole number, also when written as a string (the web defaults read "5" as 5).</summary>
    private static long Number(JsonElement element) =>
        element.ValueKind == JsonValueKind.String
            ? long.Parse(element.GetString()!, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture)
            : element.GetInt64();

    /// <summary>
    /// A batch's strings that repeat, read once: its few event types, and a stream's id over a run of its events
    /// (compared as the document's UTF-8, so a repeat costs no decoding and no new string).
    /// </summary>
    private sealed class RepeatedStrings
    {
        private readonly Recent _types = new(16);
        private readonly Recent _streamIds = new(1);

        public string? Type(JsonElement element) => _types.Read(element);

        public string? StreamId(JsonElement element) => _streamIds.Read(element);

        /// <summary>The last few distinct values read, each with its string; a new value takes the last place once full.</summary>
        private sealed class Recent(int capacity)
        {
            private readonly List<(JsonElement Element, string Value)> _seen = new(capacity);

            public string? Read(JsonElement element)
            {
                if (element.ValueKind != JsonValueKind.String)
                {
                    return element.GetString();
                }

                var raw = JsonMarshal.GetRawUtf8Value(element);
                foreach (var (seen, value) in _seen)
                {
                    if (raw.SequenceEqual(JsonMarshal.GetRawUtf8Value(seen)))
                    {
                        return value;
                    }
                }

                var text = element.GetString()!;
                if (_seen.Count == capacity)
                {
                    _seen.RemoveAt(capacity - 1);
                }

                _seen.Add((element, text));
                return text;
            }
        }
    }

    /// <summary>
    /// Refuses a name given twice in an object the reader does not read property by property (an event's data, a value
    /// it skips), at any depth, names compared exactly (after unescaping), as JsonDocumentOptions.AllowDuplicateProperties
    /// does. Not that option: it made the parse of a 500-event batch some 40% slower (about 60 µs; this walk costs a
    /// fraction of that), and the reader walks most of the batch anyway.
    /// </summary>
    private static class Duplicates
    {
        /// <summary>An object's names are compared each with the earlier ones up to this many, then kept in a set.</summary>
        private const int PairwiseUpTo = 16;

        public static void Refuse(JsonElement element)
        {
            if (element.ValueKind == JsonValueKind.Object)
            {
                RefuseInObject(element);
            }
            else if (element.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in element.EnumerateArray())
                {
                    Refuse(item);
                }
            }
        }

        /// <summary>A property the reader skips: its name against the earlier ones of its object, and what it holds.</summary>
        public static void RefuseInUnread(JsonElement owner, JsonProperty property, int position)
        {
            if (NamedBefore(owner, property, position))
            {
                throw Duplicate(property);
            }

            Refuse(property.Value);
        }

        private static void RefuseInObject(JsonElement element)
        {
            HashSet<string>? names = null;
            var position = 0;
            foreach (var property in element.EnumerateObject())
            {
                if (position == PairwiseUpTo)
                {
                    names = new HashSet<string>(StringComparer.Ordinal);
                    foreach (var earlier in element.EnumerateObject().Take(position))
                    {
                        names.Add(earlier.Name);
                    }
                }

                if (names is null ? NamedBefore(element, property, position) : !names.Add(property.Name))
                {
                    throw Duplicate(property);
                }

                Refuse(property.Value);
                position++;
            }
        }

        private static bool NamedBefore(JsonElement owner, JsonProperty property, int position)
        {
            var name = JsonMarshal.GetRawUtf8PropertyName(property);
            var escaped = name.Contains((byte)'\\');
            foreach (var earlier in owner.EnumerateObject())
            {
                if (position-- == 0)
                {
                    return false;
                }

                var earlierName = JsonMarshal.GetRawUtf8PropertyName(earlier);
                // As the document holds them; only a name with an escape needs unescaping to compare.
                var same = escaped || earlierName.Contains((byte)'\\')
                    ? property.NameEquals(earlier.Name)
                    : name.SequenceEqual(earlierName);
                if (same)
                {
                    return true;
                }
            }

            return false;
        }

        private static JsonException Duplicate(JsonProperty property) => new($"Duplicate property '{property.Name}'.");
    }

    /// <summary>The properties an object may have, by position: exact camelCase names compared as UTF-8 (no string per
    /// property, no transcoding), then, only for a name that is none of them, in any case.</summary>
    private sealed class PropertyNames(params string[] names)
    {
        private readonly byte[][] _utf8 = [.. names.Select(System.Text.Encoding.UTF8.GetBytes)];

        /// <summary>
        /// The property's position (-1: none of them), marked in <paramref name="seen"/>: a second one in any case is refused.
        /// </summary>
        public int IndexOf(JsonProperty property, ref int seen)
        {
            var index = IndexOf(property);
            if (index >= 0)
            {
                var bit = 1 << index;
                if ((seen & bit) != 0)
                {
                    throw new JsonException($"Duplicate property '{property.Name}' (names are read in any case).");
                }

                seen |= bit;
            }

            return index;
        }

        private int IndexOf(JsonProperty property)
        {
            for (var i = 0; i < _utf8.Length; i++)
            {
                if (property.NameEquals(_utf8[i]))
                {
                    return i;
                }
            }

            return Array.FindIndex(names, name => string.Equals(property.Name, name, StringComparison.OrdinalIgnoreCase));
        }
    }
}
