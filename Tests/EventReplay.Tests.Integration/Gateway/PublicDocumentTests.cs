using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using EventReplay.Tests.Integration.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace EventReplay.Tests.Integration.Gateway;

/// <summary>
/// The public document when services come and go: a gateway (asking again on every request) in front of stand-ins for
/// the five services that serve, or refuse, their own documents. Before every service has given one, the answer is a
/// 503 problem with <c>Retry-After</c> naming who is missing (never a document with a part missing); once given, a
/// service that goes down keeps its part (the last document it gave), and a service that changes its document changes
/// the public one.
/// </summary>
public sealed class PublicDocumentTests
{
    private static readonly string[] Clusters = ["balances", "monitor", "producer", "replay", "statistics"];

    // Each stand-in's document (one operation on a path its gateway route serves), or null while it is down.
    private readonly ConcurrentDictionary<string, string?> _served = new();
    private readonly List<WebApplication> _services = [];
    private ServiceProcess _gateway = null!;

    [OneTimeSetUp]
    public async Task StartGatewayInFrontOfStandIns()
    {
        var settings = new Dictionary<string, string>(TestEnvironment.ServiceConnections()) { ["PublicDocument__RefreshAfter"] = "00:00:00" };
        foreach (var cluster in Clusters)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Logging.ClearProviders();
            var service = builder.Build();
            service.MapGet("/openapi/v1.json", () => _served.GetValueOrDefault(cluster) is { } text
                ? Results.Text(text, "application/json")
                : Results.StatusCode(StatusCodes.Status503ServiceUnavailable));
            await service.StartAsync();
            _services.Add(service);
            var destination = cluster[0] + "1";
            settings[$"ReverseProxy__Clusters__{cluster}__Destinations__{destination}__Address"] = service.Urls.Single() + "/";
        }

        _gateway = new ServiceProcess("EventReplay.Gateway", settings);
        await _gateway.StartAsync();
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        await _gateway.DisposeAsync();
        foreach (var service in _services)
        {
            await service.DisposeAsync();
        }
    }

    [Test]
    public async Task Parts_come_from_the_services_a_missing_one_is_a_503_and_a_service_that_goes_down_keeps_its_last_part()
    {
        foreach (var cluster in Clusters.Except(["statistics"]))
        {
            _served[cluster] = Document(cluster, "first");
        }

        _served["statistics"] = null;
        using var client = new HttpClient { BaseAddress = _gateway.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        using var incomplete = await client.GetAsync(new Uri("/openapi/v1.json", UriKind.Relative));
        var problem = await incomplete.Content.ReadAsStringAsync();

        _served["statistics"] = Document("statistics", "first");
        var complete = await SummariesAsync(client);
        _served["statistics"] = null;
        _served["replay"] = Document("replay", "second");
        var afterwards = await SummariesAsync(client);

        Assert.Multiple(() =>
        {
            Assert.That(incomplete.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable), problem);
            Assert.That(incomplete.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
            Assert.That(incomplete.Headers.RetryAfter, Is.Not.Null);
            Assert.That(problem, Does.Contain("statistics"), "who is missing");
            Assert.That(complete, Is.EquivalentTo(Clusters.Select(cluster => $"{cluster} first")), "one operation of each service");
            Assert.That(afterwards, Does.Contain("statistics first"), "a service that went down keeps the part it gave last");
            Assert.That(afterwards, Does.Contain("replay second").And.Not.Contain("replay first"), "a changed document changes the public one");
        });
    }

    private static async Task<string[]> SummariesAsync(HttpClient client)
    {
        var document = JsonNode.Parse(await client.GetStringAsync(new Uri("/openapi/v1.json", UriKind.Relative)))!;
        return [.. document["paths"]!.AsObject().SelectMany(path => path.Value!.AsObject().Select(operation => operation.Value!["summary"]!.GetValue<string>()))];
    }

    // One operation on a path the cluster's gateway route serves, and one the gateway does not route (never public).
    private static string Document(string cluster, string version)
    {
        var (path, method) = cluster switch
        {
            "balances" => ("/api/accounts/{accountId}", "get"),
            "monitor" => ("/api/audit", "get"),
            "producer" => ("/api/events", "get"),
            "replay" => ("/api/replays", "get"),
            _ => ("/api/statistics", "get"),
        };
        return new JsonObject
        {
            ["openapi"] = "3.0.4",
            ["info"] = new JsonObject { ["title"] = cluster, ["version"] = "v1" },
            ["paths"] = new JsonObject
            {
                [path] = new JsonObject { [method] = new JsonObject { ["summary"] = $"{cluster} {version}", ["responses"] = new JsonObject() } },
                ["/internal/" + cluster] = new JsonObject { ["get"] = new JsonObject { ["summary"] = "not public", ["responses"] = new JsonObject() } },
            },
        }.ToJsonString();
    }
}
