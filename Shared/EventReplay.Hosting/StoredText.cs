namespace EventReplay.Hosting;

/// <summary>
/// Text a sender wrote, as the system stores it: PostgreSQL text cannot hold NUL (a sender's may), and a column that
/// records what someone claimed has a length it keeps.
/// </summary>
public static class StoredText
{
    public static string? WithoutNul(string? text) => text?.Replace("\0", "", StringComparison.Ordinal);

    /// <summary>Without NUL and at most <paramref name="maxLength"/> characters.</summary>
    public static string? Kept(string? text, int maxLength) => Capped(WithoutNul(text), maxLength);

    /// <summary>Without any control character and at most <paramref name="maxLength"/> characters (a name shown as it is).</summary>
    public static string Name(string text, int maxLength) => Capped(new string([.. text.Where(c => !char.IsControl(c))]), maxLength)!;

    private static string? Capped(string? text, int maxLength) => text is not null && text.Length > maxLength ? text[..maxLength] : text;
}
