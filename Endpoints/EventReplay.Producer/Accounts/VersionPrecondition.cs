using System.Globalization;
using Microsoft.Net.Http.Headers;

namespace EventReplay.Producer.Accounts;

/// <summary>
/// An <c>If-Match</c> header over stream versions (ETag <c>"3"</c> is version 3): <c>*</c> asks that the account
/// exist, a list asks for any of its versions. Comparison is strong (RFC 9110), so weak tags never match.
/// </summary>
public sealed record VersionPrecondition(bool AnyExisting, IReadOnlySet<long> Versions)
{
    public bool IsMetBy(bool exists, long version) => AnyExisting ? exists : Versions.Contains(version);

    /// <summary>Parses the header; null when it is absent, an error message when it is malformed.</summary>
    public static (VersionPrecondition? Precondition, string? Error) Parse(IList<string> values)
    {
        if (values.Count == 0 || values.All(string.IsNullOrWhiteSpace))
        {
            return (null, null);
        }

        // Strict: the lenient parser dropped what it could not read, so "*, garbage" was taken for "*" and applied.
        if (!EntityTagHeaderValue.TryParseStrictList(values, out var tags) || tags.Count == 0)
        {
            return (null, "must be *, or one or more entity tags such as \"3\"");
        }

        if (tags.Any(tag => tag.Equals(EntityTagHeaderValue.Any)))
        {
            return (new VersionPrecondition(true, new HashSet<long>()), null);
        }

        var versions = new HashSet<long>();
        foreach (var tag in tags.Where(tag => !tag.IsWeak))
        {
            if (long.TryParse(tag.Tag.AsSpan(1, tag.Tag.Length - 2), NumberStyles.None, CultureInfo.InvariantCulture, out var version))
            {
                versions.Add(version);
            }
        }

        // Tags that name no version (or are weak) are valid syntax that simply never matches: 412, not 400.
        return (new VersionPrecondition(false, versions), null);
    }
}
