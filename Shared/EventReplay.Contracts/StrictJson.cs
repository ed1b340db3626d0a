using System.Text;
using System.Text.Json;

namespace EventReplay.Contracts;

/// <summary>
/// How the system reads every JSON body it is given (HTTP requests, AMQP messages): an object that names a property
/// twice is refused, since a sender and a reader could each take another of the two values.
/// </summary>
public static class StrictJson
{
    /// <summary>
    /// Web defaults (camelCase, names read in any case, numbers also as strings) that refuse a property given twice:
    /// "amount" twice, and "amount" with "Amount" (both would set the same property), in the message and in any
    /// <see cref="JsonElement"/> it holds (there names are compared exactly).
    /// </summary>
    public static JsonSerializerOptions Options { get; } = Strict(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    /// <summary>Makes options made elsewhere (ASP.NET Core's, the message framework's) refuse a property given twice.</summary>
    public static void RefuseDuplicates(JsonSerializerOptions options) => options.AllowDuplicateProperties = false;

    /// <summary>
    /// Where the body first names a property a second time in one object, names compared in any case (as the web
    /// defaults bind them), in every object of the body, read or not: "amount", "note.by", "notes[1].by". Null when no
    /// name repeats, or when the body is not JSON (its reader says why).
    /// </summary>
    public static string? FirstDuplicate(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        // One entry per open object or array: the names an object has had, or the index of an array's current element.
        var scopes = new List<(HashSet<string>? Names, string? Name, int Index)>();
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject:
                        scopes.Add((new HashSet<string>(StringComparer.OrdinalIgnoreCase), null, 0));
                        break;
                    case JsonTokenType.StartArray:
                        scopes.Add((null, null, 0));
                        break;
                    case JsonTokenType.PropertyName:
                        var name = reader.GetString()!;
                        var scope = scopes[^1];
                        if (!scope.Names!.Add(name))
                        {
                            return PathTo(scopes, name);
                        }

                        scopes[^1] = scope with { Name = name };
                        break;
                    case JsonTokenType.EndObject or JsonTokenType.EndArray:
                        scopes.RemoveAt(scopes.Count - 1);
                        NextElement(scopes);
                        break;
                    default:
                        NextElement(scopes);
                        break;
                }
            }
        }
        catch (JsonException)
        {
            return null;
        }

        return null;
    }

    private static JsonSerializerOptions Strict(JsonSerializerOptions options)
    {
        RefuseDuplicates(options);
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }

    /// <summary>A value has ended: in an array, the next one is the next element.</summary>
    private static void NextElement(List<(HashSet<string>? Names, string? Name, int Index)> scopes)
    {
        if (scopes.Count > 0 && scopes[^1].Names is null)
        {
            scopes[^1] = scopes[^1] with { Index = scopes[^1].Index + 1 };
        }
    }

    private static string PathTo(List<(HashSet<string>? Names, string? Name, int Index)> scopes, string name)
    {
        var path = new StringBuilder();
        // The root's own entry adds nothing; every other names how its parent holds it.
        for (var i = 0; i < scopes.Count - 1; i++)
        {
            if (scopes[i].Names is null)
            {
                path.Append('[').Append(scopes[i].Index).Append(']');
            }
            else
            {
                path.Append(path.Length > 0 ? "." : "").Append(scopes[i].Name);
            }
        }

        return path.Append(path.Length > 0 ? "." : "").Append(name).ToString();
    }
}
