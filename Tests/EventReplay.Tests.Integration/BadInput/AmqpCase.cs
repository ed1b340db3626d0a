using EventReplay.Contracts;
using EventReplay.Tests.Integration.Infrastructure;
using RabbitMQ.Client;

namespace EventReplay.Tests.Integration.BadInput;

/// <summary>
/// One message of amqp.cases for the replay service's command queue: <c>EXPECT | TYPE | PROPERTIES | BODY</c> (see the
/// top of that file).
/// </summary>
public sealed record AmqpCase(CorpusLine Line, string Expected, string? Type, IReadOnlyList<(string Name, string Value)> Properties,
    string Body)
{
    public const string FileName = "amqp.cases";

    /// <summary>A readable command that breaks a rule: recorded as a failed replay that sent nothing.</summary>
    public const string Failed = "failed";

    /// <summary>A message that cannot be read (or names no replay it could act on): kept in the dead-letter storage.</summary>
    public const string Dead = "dead";

    /// <summary>A command for a replay that does not exist or has ended: handled, and nothing changes.</summary>
    public const string Ignored = "ignored";

    /// <summary>A valid command (odd properties, values at their limits): its replay runs to the end.</summary>
    public const string Completed = "completed";

    private static readonly Lazy<IReadOnlyList<AmqpCase>> Loaded = new(() => [.. Corpus.Read(FileName).Cases.Select(Parse)]);

    public static IReadOnlyList<AmqpCase> All => Loaded.Value;

    public string Name => Line.Name($"{Type ?? "(no type)"} {Body} -> {Expected}"
        + (Properties.Count > 0 ? " [" + string.Join("; ", Properties.Select(p => $"{p.Name}={p.Value}")) + "]" : ""));

    /// <summary>Publishes the message to <see cref="Topology.ReplayCommandsQueue"/> with <paramref name="messageId"/> (how the service's storage names it).</summary>
    public async Task PublishAsync(Guid messageId, IReadOnlyDictionary<string, string> values)
    {
        var properties = new BasicProperties
        {
            Persistent = true,
            ContentType = "application/json",
            Type = Type,
            MessageId = messageId.ToString(),
            Headers = new Dictionary<string, object?>(),
        };
        foreach (var (name, value) in Properties)
        {
            switch (name)
            {
                case "content-type":
                    properties.ContentType = value.Length == 0 ? null : value;
                    break;
                case "content-encoding":
                    properties.ContentEncoding = value;
                    break;
                default:
                    properties.Headers[name["header:".Length..]] = value;
                    break;
            }
        }

        var factory = new ConnectionFactory { Uri = new Uri(TestEnvironment.RabbitMqConnectionString) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(true, true));
        await channel.BasicPublishAsync("", Topology.ReplayCommandsQueue, mandatory: true, properties, Template.Bytes(Body, values));
    }

    private static AmqpCase Parse(CorpusLine line)
    {
        var fields = Corpus.Fields(line, 4);
        if (fields[0] is not (Failed or Dead or Ignored or Completed))
        {
            throw new FormatException($"{line}: expected {Failed}, {Dead}, {Ignored} or {Completed}");
        }

        var properties = new List<(string, string)>();
        foreach (var entry in fields[2] == "-" ? [] : fields[2].Split(" ;; "))
        {
            var pair = entry.Split('=', 2);
            if (pair.Length != 2 || pair[0] is not ("content-type" or "content-encoding") && !pair[0].StartsWith("header:", StringComparison.Ordinal))
            {
                throw new FormatException($"{line}: property '{entry}' is not content-type=…, content-encoding=… or header:NAME=…");
            }

            properties.Add((pair[0], pair[1]));
        }

        return new AmqpCase(line, fields[0], fields[1] == "-" ? null : fields[1], properties, fields[3]);
    }
}
