using System.Text.Json.Nodes;
using EventReplay.Gateway.Proxy;
using Yarp.ReverseProxy.Configuration;

namespace EventReplay.Tests.Unit.Gateway;

/// <summary>How the gateway makes one public document of the services' own: what the routes reach, and only that.</summary>
public class PublicDocumentTests
{
    private static RouteConfig Route(string cluster, string path, params string[] methods) =>
        new() { RouteId = $"{cluster}{path}", ClusterId = cluster, Match = new RouteMatch { Path = path, Methods = methods } };

    private static JsonObject Document(string paths, string schemas) =>
        JsonNode.Parse("""{"openapi":"3.0.4","paths":{""" + paths + """},"components":{"schemas":{""" + schemas + "}}}")!.AsObject();

    [TestCase("POST", "/api/accounts/{accountId}/deposits", true)]
    [TestCase("POST", "/api/accounts/{accountId}/close", true)]
    [TestCase("POST", "/api/accounts/{accountId}/transfers", false)]
    [TestCase("GET", "/api/accounts/{accountId}/deposits", false)]
    [TestCase("POST", "/api/accounts/{accountId}", false)]
    public void A_route_reaches_the_operations_its_methods_and_path_constraints_take(string method, string path, bool reached)
    {
        var route = Route("producer", "/api/accounts/{accountId}/{command:regex(^(deposits|withdrawals|close)$)}", "POST");

        Assert.That(PublicDocument.Reaches(route, method.ToLowerInvariant(), path), Is.EqualTo(reached));
    }

    [Test]
    public void The_merge_keeps_routed_operations_and_their_schemas_and_renames_a_schema_two_services_describe_differently()
    {
        var producer = Document(
            """
            "/api/accounts": {"post": {"operationId": "open", "responses": {"201": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/View"}}}}}}},
            "/internal/flush": {"post": {"operationId": "flush", "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Internal"}}}}}}}
            """,
            """
            "View": {"type": "object", "properties": {"version": {"type": "integer"}}},
            "Internal": {"type": "object"}
            """);
        var balances = Document(
            """
            "/api/accounts/{accountId}": {"get": {"operationId": "get", "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/View"}}}}}}}
            """,
            """
            "View": {"type": "object", "properties": {"balance": {"type": "number"}, "owner": {"$ref": "#/components/schemas/Owner"}}},
            "Owner": {"type": "string"}
            """);
        RouteConfig[] routes = [Route("producer", "/api/accounts", "POST"), Route("balances", "/api/accounts/{accountId}", "GET")];

        var merged = PublicDocument.Merge([("balances", balances), ("producer", producer)], routes, "http://gateway");

        var paths = merged["paths"]!.AsObject();
        var schemas = merged["components"]!["schemas"]!.AsObject();
        Assert.Multiple(() =>
        {
            Assert.That(paths.Select(path => path.Key), Is.EquivalentTo(new[] { "/api/accounts", "/api/accounts/{accountId}" }), "no route reaches /internal/flush");
            Assert.That(schemas.Select(schema => schema.Key), Is.EquivalentTo(new[] { "View", "Owner", "ProducerView" }), "only what the operations use");
            Assert.That(paths["/api/accounts"]!["post"]!["responses"]!["201"]!["content"]!["application/json"]!["schema"]!["$ref"]!.GetValue<string>(),
                Is.EqualTo("#/components/schemas/ProducerView"), "the producer's View, renamed where it is used");
            Assert.That(schemas["View"]!["properties"]!["balance"], Is.Not.Null, "the first service's View keeps its name");
            Assert.That(merged["servers"]![0]!["url"]!.GetValue<string>(), Is.EqualTo("http://gateway"));
        });
    }
}
