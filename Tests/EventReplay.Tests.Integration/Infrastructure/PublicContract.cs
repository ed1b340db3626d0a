using System.Text.Json.Nodes;
using EventReplay.Security;

namespace EventReplay.Tests.Integration.Infrastructure;

/// <summary>
/// The public contract as committed (<c>docs/openapi/v1.json</c>): what the gateway serves (ContractTests hold the two
/// equal), what the CLI's client is generated from, and where the tests take the public operations from.
/// </summary>
public static class PublicContract
{
    public static string FilePath { get; } = Path.Combine(TestEnvironment.RepoRoot, "docs", "openapi", "v1.json");

    public static JsonObject Document => JsonNode.Parse(File.ReadAllText(FilePath))!.AsObject();

    /// <summary>One operation: its path template, method (upper case) and the operation object.</summary>
    public sealed record Operation(string Path, string Method, JsonObject Body)
    {
        public string Id => Body["operationId"]?.GetValue<string>() ?? "";

        /// <summary>The roles it names (<c>x-roles</c>); none when it needs no token.</summary>
        public IReadOnlyList<string> Roles => [.. (Body["x-roles"]?.AsArray() ?? []).Select(role => role!.GetValue<string>())];

        /// <summary>The authorization policy that takes exactly its roles (<see cref="Policies"/>).</summary>
        public string Policy => Roles.Count == 0
            ? Policies.Anonymous
            : new[] { Policies.Read, Policies.Write, Policies.Operate }.Single(policy => Policies.RolesOf(policy).Order().SequenceEqual(Roles.Order()));
    }

    public static IReadOnlyList<Operation> Operations(JsonObject document) =>
        [.. document["paths"]!.AsObject().SelectMany(path => path.Value!.AsObject()
            .Where(item => item.Value is JsonObject)
            .Select(item => new Operation(path.Key, item.Key.ToUpperInvariant(), item.Value!.AsObject())))];
}
