using System.Text.Json;
using EventReplay.Contracts;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace EventReplay.Hosting;

/// <summary>
/// Reads a JSON request body with the exact statuses the API promises: 415 when it is not JSON, 413 past
/// 64 KiB (checked here too, so the limit holds whatever server hosts the app), 400 when it does not parse or names
/// a property twice in one object (see <see cref="StrictJson"/>). JSON is UTF-8 (RFC 8259): another charset is a 415.
/// </summary>
public static class JsonBody
{
    /// <summary>
    /// The body as a <typeparamref name="T"/>, or the problem with it. <paramref name="refused"/>: properties this request
    /// must not have (name, and what to say of it), matched in any case at the top level, whatever their value.
    /// </summary>
    public static async Task<(T? Value, IResult? Problem)> ReadAsync<T>(HttpRequest request, CancellationToken cancellationToken,
        IReadOnlyDictionary<string, string>? refused = null)
        where T : class
    {
        if (!request.HasJsonContentType() || !IsUtf8(request.ContentType))
        {
            return (null, TypedResults.Problem("The request body must be JSON (Content-Type: application/json).",
                statusCode: StatusCodes.Status415UnsupportedMediaType, title: "Unsupported media type"));
        }

        if (request.ContentLength > ServiceDefaults.MaxRequestBodyBytes)
        {
            return (null, TooLarge());
        }

        byte[] body;
        try
        {
            body = await ReadCappedAsync(request.Body, cancellationToken);
        }
        catch (BadHttpRequestException exception) when (exception.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, TooLarge());
        }

        if (body.Length > ServiceDefaults.MaxRequestBodyBytes)
        {
            return (null, TooLarge());
        }

        // A UTF-8 byte order mark is allowed (RFC 8259 lets a parser ignore it); the parser itself would refuse it.
        var json = body.AsMemory();
        if (json.Span.StartsWith("\uFEFF"u8))
        {
            json = json[3..];
        }

        // JSON is UTF-8 throughout: the reader checks only the strings it decodes, so bytes that are not UTF-8 in a
        // property the request does not read were let through.
        if (!System.Text.Unicode.Utf8.IsValid(json.Span))
        {
            return (null, Invalid("body", "is not valid UTF-8"));
        }

        // Anywhere in the body, read or not, and in any case: the serializer alone would see only the properties it binds.
        if (StrictJson.FirstDuplicate(json.Span) is { } duplicate)
        {
            return (null, Invalid(duplicate, "is given more than once (property names are matched in any case)"));
        }

        var options = request.HttpContext.RequestServices.GetRequiredService<IOptions<JsonOptions>>().Value.SerializerOptions;
        try
        {
            if (refused is not null && Refused(json.Span, refused) is { } given)
            {
                return (null, Invalid(given.Key, given.Value));
            }

            var value = JsonSerializer.Deserialize<T>(json.Span, options);
            return value is null
                ? (null, Invalid("body", "must be a JSON object"))
                : (value, null);
        }
        catch (JsonException exception)
        {
            return (null, Invalid(string.IsNullOrEmpty(exception.Path) || exception.Path == "$" ? "body" : exception.Path.TrimStart('$', '.'),
                "is not valid JSON for this request" + (exception.LineNumber is { } line ? $" (line {line + 1})" : "")));
        }
    }

    private static KeyValuePair<string, string>? Refused(ReadOnlySpan<byte> json, IReadOnlyDictionary<string, string> refused)
    {
        var reader = new Utf8JsonReader(json);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return null;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.GetString()!;
            if (refused.FirstOrDefault(item => item.Key.Equals(name, StringComparison.OrdinalIgnoreCase)) is { Key: not null } match)
            {
                return match;
            }

            reader.Skip();
        }

        return null;
    }

    private static IResult TooLarge() =>
        TypedResults.Problem($"The request body must be at most {ServiceDefaults.MaxRequestBodyBytes / 1024} KiB.",
            statusCode: StatusCodes.Status413PayloadTooLarge, title: "Request body too large");

    private static IResult Invalid(string field, string message) =>
        TypedResults.ValidationProblem(new Dictionary<string, string[]> { [field] = [message] }, title: "The request is invalid");

    private static bool IsUtf8(string? contentType) =>
        Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(contentType, out var mediaType)
        && (mediaType.Charset.Length == 0
            || mediaType.Charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase)
            || mediaType.Charset.Equals("utf8", StringComparison.OrdinalIgnoreCase));

    private static async Task<byte[]> ReadCappedAsync(Stream body, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > ServiceDefaults.MaxRequestBodyBytes)
            {
                break;
            }
        }

        return buffer.ToArray();
    }
}
