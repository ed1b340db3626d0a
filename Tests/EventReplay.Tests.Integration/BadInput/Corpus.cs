using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.BadInput;

/// <summary>One case line of a corpus file after its lists are expanded: where it came from and its text.</summary>
public sealed record CorpusLine(string File, int Number, int Variant, string Text, string Template)
{
    /// <summary>A short, printable name for the test: the file, the line (and variant) and the case as written.</summary>
    public string Name(string text)
    {
        var where = $"{Path.GetFileNameWithoutExtension(File)}-L{Number:D3}" + (Variant > 0 ? $"-{Variant}" : "");
        return $"{where} {Printable(text, 140)}";
    }

    public override string ToString() => $"{File}:{Number}" + (Variant > 0 ? $" (variant {Variant})" : "") + $": {Text}";

    /// <summary>
    /// The text with everything outside printable ASCII written as \uXXXX, cut to <paramref name="max"/> characters:
    /// test names end up in XML reports and terminals, which take neither control characters nor surrogates.
    /// </summary>
    public static string Printable(string text, int max)
    {
        var shown = new StringBuilder();
        foreach (var c in text)
        {
            shown.Append(c is >= ' ' and <= '~' ? c.ToString() : $"\\u{(int)c:X4}");
            if (shown.Length >= max)
            {
                return shown.ToString(0, max) + "…";
            }
        }

        return shown.ToString();
    }
}

/// <summary>
/// Reads the corpus files in this folder. A file is lines; '#' starts a comment line; blank lines are skipped;
/// '@name …' lines are directives for the file's reader; '@list NAME' … '@end' names a list of values, one a line.
/// A case line that holds <c>{@NAME}</c> stands for one case per value of that list (every reference to the same list
/// takes the same value; values are pasted as text, so a value may hold whole fields or other lists' references).
/// </summary>
public static partial class Corpus
{
    public static string Folder { get; } = Path.Combine(TestEnvironment.RepoRoot, "Tests", "EventReplay.Tests.Integration", "BadInput");

    public static (IReadOnlyList<CorpusLine> Cases, IReadOnlyList<CorpusLine> Directives) Read(string fileName)
    {
        var lists = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var cases = new List<CorpusLine>();
        var directives = new List<CorpusLine>();
        List<string>? list = null;
        var lines = File.ReadAllLines(Path.Combine(Folder, fileName), Encoding.UTF8);
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            var trimmed = line.Trim();
            if (trimmed.Length == 0 || trimmed.StartsWith('#'))
            {
                continue;
            }

            if (list is not null)
            {
                if (trimmed == "@end")
                {
                    list = null;
                }
                else
                {
                    list.Add(trimmed);
                }

                continue;
            }

            if (trimmed.StartsWith("@list ", StringComparison.Ordinal))
            {
                var name = trimmed["@list ".Length..].Trim().Split(' ')[0];
                list = [];
                if (!lists.TryAdd(name, list))
                {
                    throw new FormatException($"{fileName}:{i + 1}: list {name} is defined twice");
                }

                continue;
            }

            if (trimmed.StartsWith('@'))
            {
                directives.Add(new CorpusLine(fileName, i + 1, 0, trimmed, trimmed));
                continue;
            }

            var expanded = Expand(trimmed, lists, fileName, i + 1, depth: 0).ToList();
            cases.AddRange(expanded.Select((text, n) => new CorpusLine(fileName, i + 1, expanded.Count > 1 ? n + 1 : 0, text, trimmed)));
        }

        if (list is not null)
        {
            throw new FormatException($"{fileName}: a list is not closed with @end");
        }

        return (cases, directives);
    }

    /// <summary>Splits a case line into its fields at " | ", at most <paramref name="count"/> (the last takes the rest).</summary>
    public static string[] Fields(CorpusLine line, int count)
    {
        var fields = line.Text.Split(" | ", count);
        if (fields.Length != count)
        {
            throw new FormatException($"{line}: expected {count} fields separated by ' | '");
        }

        return fields.Select((field, i) => i == count - 1 ? field : field.Trim()).ToArray();
    }

    private static IEnumerable<string> Expand(string text, Dictionary<string, List<string>> lists, string file, int number, int depth)
    {
        var reference = ListReference().Match(text);
        if (!reference.Success)
        {
            yield return text;
            yield break;
        }

        var name = reference.Groups[1].Value;
        if (depth > 8 || !lists.TryGetValue(name, out var values))
        {
            throw new FormatException($"{file}:{number}: no list named {name} (lists are defined above the lines that use them)");
        }

        foreach (var value in values)
        {
            foreach (var expanded in Expand(text.Replace(reference.Value, value, StringComparison.Ordinal), lists, file, number, depth + 1))
            {
                yield return expanded;
            }
        }
    }

    [GeneratedRegex(@"\{@([A-Za-z0-9_-]+)\}")]
    private static partial Regex ListReference();
}

/// <summary>
/// Turns a corpus field into the bytes that are sent. Text is sent as written (UTF-8, or UTF-16 for a body marked so),
/// backslashes included, so JSON escapes are JSON's own. Within it:
/// <list type="bullet">
/// <item><c>{U+XXXX}</c>: that code point, encoded; a surrogate (D800–DFFF) alone, as the three bytes UTF-8 forbids
/// (or one UTF-16 unit).</item>
/// <item><c>{x:HH…}</c>: these raw bytes (any number of hex pairs), e.g. <c>{x:C0AF}</c>, an overlong '/'.</item>
/// <item><c>{rep:N:TEXT}</c>: TEXT (which holds no '}') N times; <c>{rbrace:N}</c>: N closing braces; <c>{lines:N:TEXT}</c>:
/// N lines of TEXT, each ended by CR LF.</item>
/// <item><c>{CRLF}</c>, <c>{sp}</c>, <c>{nothing}</c>: a line end, a space, nothing at all.</item>
/// <item><c>{name}</c>: a value the test supplies (an open account, a fresh id…); anything else is sent as written.</item>
/// </list>
/// </summary>
public static partial class Template
{
    public static byte[] Bytes(string text, IReadOnlyDictionary<string, string> values, bool utf16 = false)
    {
        var encoding = utf16 ? (Encoding)new UnicodeEncoding(bigEndian: false, byteOrderMark: false) : new UTF8Encoding(false);
        using var bytes = new MemoryStream();
        var literal = new StringBuilder();
        void Flush()
        {
            bytes.Write(encoding.GetBytes(literal.ToString()));
            literal.Clear();
        }

        var i = 0;
        while (i < text.Length)
        {
            var macro = text[i] == '{' ? Macro().Match(text, i) : Match.Empty;
            if (!macro.Success || macro.Index != i)
            {
                literal.Append(text[i++]);
                continue;
            }

            var name = macro.Groups[1].Value;
            var argument = macro.Groups[2].Value;
            i += macro.Length;
            switch (name)
            {
                case "U" when argument.Length > 0:
                    Flush();
                    bytes.Write(CodePoint(int.Parse(argument[1..], NumberStyles.HexNumber, CultureInfo.InvariantCulture), encoding, utf16));
                    break;
                case "x" when argument.Length > 1:
                    Flush();
                    bytes.Write(Convert.FromHexString(argument[1..]));
                    break;
                case "rep" when RepeatArgument().Match(argument) is { Success: true } repeat:
                    literal.Insert(literal.Length, repeat.Groups[2].Value, int.Parse(repeat.Groups[1].Value, CultureInfo.InvariantCulture));
                    break;
                case "lines" when RepeatArgument().Match(argument) is { Success: true } lines:
                    literal.Insert(literal.Length, lines.Groups[2].Value + "\r\n", int.Parse(lines.Groups[1].Value, CultureInfo.InvariantCulture));
                    break;
                case "rbrace" when argument.Length > 1:
                    literal.Append('}', int.Parse(argument[1..], CultureInfo.InvariantCulture));
                    break;
                case "CRLF":
                    literal.Append("\r\n");
                    break;
                case "sp":
                    literal.Append(' ');
                    break;
                case "nothing":
                    break;
                default:
                    if (argument.Length == 0 && values.TryGetValue(name, out var value))
                    {
                        literal.Append(value);
                    }
                    else
                    {
                        literal.Append(macro.Value);
                    }

                    break;
            }
        }

        Flush();
        return bytes.ToArray();
    }

    /// <summary>The bytes as a string of the same length (each byte one character), for headers and paths sent byte for byte.</summary>
    public static string Latin1(string text, IReadOnlyDictionary<string, string> values) => Encoding.Latin1.GetString(Bytes(text, values));

    private static byte[] CodePoint(int codePoint, Encoding encoding, bool utf16)
    {
        if (codePoint is >= 0xD800 and <= 0xDFFF)
        {
            return utf16
                ? [(byte)(codePoint & 0xFF), (byte)(codePoint >> 8)]
                : [(byte)(0xE0 | (codePoint >> 12)), (byte)(0x80 | ((codePoint >> 6) & 0x3F)), (byte)(0x80 | (codePoint & 0x3F))];
        }

        return encoding.GetBytes(char.ConvertFromUtf32(codePoint));
    }

    // {name} or {name+HEX} or {name:ARGUMENT}; an argument holds no '}'.
    [GeneratedRegex(@"\{([A-Za-z][A-Za-z0-9-]*)((?:\+[0-9A-Fa-f]{1,6})|(?::[^}]*))?\}")]
    private static partial Regex Macro();

    [GeneratedRegex(@"^:(\d+):(.*)$", RegexOptions.Singleline)]
    private static partial Regex RepeatArgument();
}
