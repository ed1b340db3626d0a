using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace EventReplay.Tests.Integration.BadInput;

/// <summary>What came back on a raw connection: a status (null when the server closed without answering) and the time it took.</summary>
public sealed record RawAnswer(int? Status, string? ContentType, byte[] Body, TimeSpan Elapsed)
{
    public override string ToString() =>
        Status is null
            ? $"connection closed without an answer after {Elapsed.TotalSeconds:0.0} s"
            : $"{Status} {ContentType} after {Elapsed.TotalSeconds:0.0} s: {CorpusLine.Printable(Encoding.UTF8.GetString(Body), 300)}";
}

/// <summary>
/// One request of raw.cases, bytes HttpClient cannot send: <c>EXPECT | MODE | BYTES</c> (see the top of that file).
/// </summary>
public sealed record RawCase(CorpusLine Line, IReadOnlySet<int> Expected, bool Plain, bool MayClose, string Mode, string Bytes)
{
    public const string FileName = "raw.cases";

    /// <summary>No answer within this is a failure (a slow sender is cut off well before).</summary>
    public static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    private static readonly Lazy<IReadOnlyList<RawCase>> Loaded = new(() => [.. Corpus.Read(FileName).Cases.Select(Parse)]);

    public static IReadOnlyList<RawCase> All => Loaded.Value;

    public string Name => Line.Name($"{Mode} {Bytes} -> " + string.Join("/", Expected.Order().Select(s => s.ToString(CultureInfo.InvariantCulture))
        .Concat(MayClose ? ["closed"] : [])));

    /// <summary>The request line's method and target, for the route it is meant for.</summary>
    public (string Method, string Target) RequestLine
    {
        get
        {
            var words = Template.Latin1(Bytes, HttpRules.SampleValues).Split("\r\n")[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return words.Length >= 2 ? (words[0], words[1]) : ("", "");
        }
    }

    /// <summary>
    /// The case's bytes with a valid token after the request line (unless the case has an Authorization header of its
    /// own): the corpus is about what a caller who may call gets for bad bytes.
    /// </summary>
    private static byte[] WithToken(byte[] bytes)
    {
        var lineEnd = bytes.AsSpan().IndexOf("\r\n"u8);
        if (lineEnd < 0 || Encoding.Latin1.GetString(bytes).Contains("\r\nAuthorization:", StringComparison.OrdinalIgnoreCase))
        {
            return bytes;
        }

        return [.. bytes.AsSpan(0, lineEnd + 2), .. Encoding.ASCII.GetBytes($"Authorization: Bearer {Infrastructure.TestTokens.Everyone}\r\n"),
            .. bytes.AsSpan(lineEnd + 2)];
    }

    /// <summary>Sends the bytes as the mode says and reads the answer.</summary>
    public async Task<RawAnswer> RunAsync(int port, IReadOnlyDictionary<string, string> values)
    {
        var bytes = WithToken(WithContentLength(Template.Bytes(Bytes, values)));
        var clock = Stopwatch.StartNew();
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var deadline = new CancellationTokenSource(Limit);
        await socket.ConnectAsync("127.0.0.1", port, deadline.Token);
        var answer = ReadAnswerAsync(socket, deadline.Token);
        try
        {
            if (Mode.StartsWith("slow", StringComparison.Ordinal))
            {
                // A few bytes at a time (after the head, for slow-body), until everything is sent or the server has
                // answered (or hung up).
                var perSecond = int.Parse(Mode[(Mode.IndexOf(':', StringComparison.Ordinal) + 1)..], CultureInfo.InvariantCulture);
                var first = Mode.StartsWith("slow-body:", StringComparison.Ordinal) ? HeadLength(bytes) : 0;
                await socket.SendAsync(bytes.AsMemory(0, first), deadline.Token);
                for (var i = first; i < bytes.Length && !answer.IsCompleted; i++)
                {
                    await socket.SendAsync(bytes.AsMemory(i, 1), deadline.Token);
                    await Task.WhenAny(answer, Task.Delay(TimeSpan.FromSeconds(1.0 / perSecond), deadline.Token)); // the sender's pace, not a wait for the server
                }
            }
            else
            {
                await socket.SendAsync(bytes, deadline.Token);
                if (Mode == "send-close")
                {
                    socket.Shutdown(SocketShutdown.Send);
                }
            }
        }
        catch (SocketException)
        {
            // The server closed the connection while we were still sending: its answer (if any) says why.
        }

        var (status, contentType, body) = await answer;
        return new RawAnswer(status, contentType, body, clock.Elapsed);
    }

    private static int HeadLength(byte[] bytes) => bytes.AsSpan().IndexOf("\r\n\r\n"u8) + 4;

    /// <summary>The request with <c>{content-length}</c> replaced by the length of what follows its head.</summary>
    private static byte[] WithContentLength(byte[] bytes)
    {
        var marker = "{content-length}"u8;
        var at = bytes.AsSpan().IndexOf(marker);
        if (at < 0)
        {
            return bytes;
        }

        var length = Encoding.ASCII.GetBytes((bytes.Length - HeadLength(bytes)).ToString(CultureInfo.InvariantCulture));
        return [.. bytes.AsSpan(0, at), .. length, .. bytes.AsSpan(at + marker.Length)];
    }

    /// <summary>
    /// The first final response on the connection (1xx are skipped): status, content type and body; a null status when
    /// the server closed the connection without one.
    /// </summary>
    private static async Task<(int?, string?, byte[])> ReadAnswerAsync(Socket socket, CancellationToken cancellationToken)
    {
        var received = new List<byte>();
        var buffer = new byte[16 * 1024];
        var start = 0;
        while (true)
        {
            int read;
            try
            {
                read = await socket.ReceiveAsync(buffer, cancellationToken);
            }
            catch (SocketException)
            {
                read = 0;
            }

            received.AddRange(buffer.AsSpan(0, read));
            var text = Encoding.Latin1.GetString([.. received]);
            var headEnd = text.IndexOf("\r\n\r\n", start, StringComparison.Ordinal);
            if (headEnd >= 0)
            {
                var head = text[start..headEnd].Split("\r\n");
                var status = int.Parse(head[0].Split(' ')[1], CultureInfo.InvariantCulture);
                if (status < 200)
                {
                    start = headEnd + 4;
                    continue;
                }

                string? Header(string name) => head.Skip(1).Select(line => line.Split(':', 2))
                    .FirstOrDefault(pair => pair[0].Trim().Equals(name, StringComparison.OrdinalIgnoreCase))?[1].Trim();
                var body = text[(headEnd + 4)..];
                var complete = Header("Content-Length") is { } length
                    ? body.Length >= int.Parse(length, CultureInfo.InvariantCulture)
                    : Header("Transfer-Encoding")?.Contains("chunked", StringComparison.OrdinalIgnoreCase) == true
                        ? body.EndsWith("0\r\n\r\n", StringComparison.Ordinal)
                        : read == 0;
                if (complete || read == 0)
                {
                    return (status, Header("Content-Type"), Encoding.Latin1.GetBytes(Unchunk(body, Header("Transfer-Encoding"))));
                }
            }

            if (read == 0)
            {
                return (null, null, [.. received]);
            }
        }
    }

    private static string Unchunk(string body, string? transferEncoding)
    {
        if (transferEncoding?.Contains("chunked", StringComparison.OrdinalIgnoreCase) != true)
        {
            return body;
        }

        var content = new StringBuilder();
        var at = 0;
        while (at < body.Length)
        {
            var lineEnd = body.IndexOf("\r\n", at, StringComparison.Ordinal);
            var size = int.Parse(body[at..lineEnd], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (size == 0)
            {
                break;
            }

            content.Append(body, lineEnd + 2, size);
            at = lineEnd + 2 + size + 2;
        }

        return content.ToString();
    }

    private static RawCase Parse(CorpusLine line)
    {
        var fields = Corpus.Fields(line, 3);
        var mayClose = fields[0].Split(' ').Contains("closed");
        var (expected, plain) = mayClose && fields[0].Trim() == "closed"
            ? (new SortedSet<int>(), false)
            : Expectation.Parse(line, string.Join(' ', fields[0].Split(' ').Where(word => word != "closed")));
        if (fields[1] is not ("send" or "send-close") && !fields[1].StartsWith("slow:", StringComparison.Ordinal)
            && !fields[1].StartsWith("slow-body:", StringComparison.Ordinal))
        {
            throw new FormatException($"{line}: the mode is send, send-close, slow:N or slow-body:N");
        }

        return new RawCase(line, expected, plain, mayClose, fields[1], fields[2]);
    }
}
