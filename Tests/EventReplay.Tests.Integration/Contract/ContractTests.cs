using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using EventReplay.Security;
using EventReplay.Tests.Integration.BadInput;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Contract;

/// <summary>
/// The public contract: the gateway serves one OpenAPI document for every public route of every service, equal to the
/// committed <c>docs/openapi/v1.json</c> (from which the CLI's client is generated); it passes <c>redocly lint</c> with
/// the recommended rules; each operation has an id, a summary, a tag, its statuses with the problem-details schema, the
/// bearer scheme and its role (the same as its gateway route's policy), and examples of what it takes.
/// </summary>
public sealed class ContractTests : StackOverEmptyLog
{
    // The recommended rules' warnings the contract keeps, and why: the failed-message routes have a literal segment
    // (retry-jobs) where others have an id, which routing resolves (literals first) and redocly cannot know; the system
    // has no licence to name.
    private static readonly string[] AcceptedWarnings = ["no-ambiguous-paths", "info-license"];

    private static readonly string[] ProblemSchemas = ["#/components/schemas/ProblemDetails", "#/components/schemas/HttpValidationProblemDetails"];

    [Test]
    public async Task The_gateway_serves_the_committed_contract_to_anyone()
    {
        using var client = new HttpClient { BaseAddress = Stack.LoadBalancer.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        using var response = await client.GetAsync(new Uri("/openapi/v1.json", UriKind.Relative));
        var text = await response.Content.ReadAsStringAsync();
        Assert.That((int)response.StatusCode, Is.EqualTo(200), text);
        var served = JsonNode.Parse(text)!.AsObject();
        var committed = PublicContract.Document;
        var server = served["servers"]?[0]?["url"]?.GetValue<string>();
        served.Remove("servers");
        committed.Remove("servers");
        var same = JsonNode.DeepEquals(served, committed);
        if (!same)
        {
            var copy = Path.Combine(TestEnvironment.RepoRoot, ".local", "test-results", "openapi-v1.served.json");
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            await File.WriteAllTextAsync(copy, text);
        }

        Assert.Multiple(() =>
        {
            Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/json"));
            Assert.That(server, Is.EqualTo(Stack.LoadBalancer.BaseAddress.ToString().TrimEnd('/')), "the server is where it was asked");
            Assert.That(same, Is.True, "docs/openapi/v1.json is what the gateway serves: run eng/openapi.sh after changing a public route "
                                       + "(the served document is in .local/test-results/openapi-v1.served.json)");
        });
    }

    [Test]
    public async Task Redocly_lint_with_the_recommended_rules_passes()
    {
        var redocly = Path.Combine(TestEnvironment.RepoRoot, ".local", "tools", "redocly", "node_modules", ".bin", "redocly");
        Assert.That(File.Exists(redocly), Is.True, $"{redocly}: eng/test.sh installs @redocly/cli there");
        var start = new ProcessStartInfo(redocly, ["lint", "--extends=recommended", "--format=json", PublicContract.FilePath])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment = { ["REDOCLY_TELEMETRY"] = "off", ["REDOCLY_SUPPRESS_UPDATE_NOTICE"] = "true" },
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        using var report = JsonDocument.Parse(await output);
        var problems = report.RootElement.GetProperty("problems").EnumerateArray()
            .Select(problem => (Rule: problem.GetProperty("ruleId").GetString()!, Severity: problem.GetProperty("severity").GetString()!,
                Message: problem.GetProperty("message").GetString()!))
            .ToList();
        await TestContext.Out.WriteLineAsync($"redocly lint: {report.RootElement.GetProperty("totals")}");
        Assert.Multiple(async () =>
        {
            Assert.That(process.ExitCode, Is.EqualTo(0), await error);
            Assert.That(problems.Where(problem => problem.Severity == "error"), Is.Empty, "errors");
            Assert.That(problems.Where(problem => !AcceptedWarnings.Contains(problem.Rule)), Is.Empty, "warnings but those the contract keeps");
        });
    }

    public static IEnumerable<TestCaseData> Operations() =>
        PublicContract.Operations(PublicContract.Document).Select(operation =>
            new TestCaseData(operation.Method, operation.Path).SetName($"{operation.Method} {operation.Path} is described in full"));

    [TestCaseSource(nameof(Operations))]
    public void Each_operation_is_described_in_full(string method, string path)
    {
        var document = PublicContract.Document;
        var operations = PublicContract.Operations(document);
        var operation = operations.Single(o => o.Method == method && o.Path == path);
        var body = operation.Body;
        var responses = body["responses"]!.AsObject();
        var route = GatewayRoutes.Configured.Match(method, GatewayRoutes.Concrete(path));
        var declaration = GatewayRoutes.Configured.Declarations.SingleOrDefault(d => d.Name == route);
        Assert.Multiple(() =>
        {
            Assert.That(operation.Id, Is.Not.Empty, "operationId");
            Assert.That(operations.Count(o => o.Id == operation.Id), Is.EqualTo(1), "a unique operationId");
            Assert.That(body["summary"]?.GetValue<string>(), Is.Not.Null.And.Not.Empty, "summary");
            Assert.That(body["tags"]?.AsArray().Count, Is.EqualTo(1), "one tag");
            Assert.That(responses.Select(r => r.Key), Has.Some.Matches<string>(status => status is ['2', ..]), "a success");
            Assert.That(responses.Select(r => r.Key), Is.SupersetOf(new[] { "401", "403", "429", "503" }), "who may not, too fast, not now");
            foreach (var (status, response) in responses.Where(r => r.Key[0] is '4' or '5'))
            {
                Assert.That(response!["content"]?["application/problem+json"]?["schema"]?["$ref"]?.GetValue<string>(), Is.AnyOf(ProblemSchemas),
                    $"{status} is problem details");
                Assert.That(response["description"]?.GetValue<string>(), Is.Not.Empty, $"{status} says when");
            }

            Assert.That(body["security"]?.ToJsonString(), Is.EqualTo("""[{"bearer":[]}]"""), "the bearer scheme");
            Assert.That(operation.Roles, Is.Not.Empty, "x-roles");
            Assert.That(body["description"]?.GetValue<string>(), Does.Contain($"Role: {string.Join(" or ", operation.Roles)}."));
            Assert.That(declaration?.AuthorizationPolicy, Is.EqualTo(operation.Policy), $"the gateway's route {route} takes the same roles");
            if (body["requestBody"] is { } request)
            {
                Assert.That(request["content"]?["application/json"]?["example"], Is.Not.Null, "an example of the body");
                Assert.That(responses.Select(r => r.Key), Is.SupersetOf(new[] { "400", "413", "415" }), "a body's refusals");
            }
        });
    }

    [Test]
    public void Every_public_route_of_the_gateway_serves_operations_of_the_contract_and_each_operation_has_one_route()
    {
        var operations = PublicContract.Operations(PublicContract.Document);
        var reached = operations.Select(o => (Operation: o, Route: GatewayRoutes.Configured.Match(o.Method, GatewayRoutes.Concrete(o.Path)))).ToList();
        // The console is HTML for people (its own sign-in, antiforgery), not part of the API; the contract is the document itself.
        var api = GatewayRoutes.Configured.Declarations.Where(d => !d.Name.StartsWith("console", StringComparison.Ordinal) && d.Name != GatewayRoutes.OpenApi);
        Assert.Multiple(() =>
        {
            Assert.That(reached.Where(r => r.Route is GatewayRoutes.NoRoute or GatewayRoutes.WrongMethod).Select(r => r.Operation.Id), Is.Empty,
                "operations no route serves");
            Assert.That(api.Select(d => d.Name).Except(reached.Select(r => r.Route)), Is.Empty, "routes without an operation in the contract");
        });
    }
}
