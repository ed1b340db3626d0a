using System.Net;
using System.Text.Json;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Producer;

public class HostTests
{
    [TestCase("/health/live")]
    [TestCase("/health/ready")]
    [TestCase("/health")]
    public async Task Health_endpoints_answer_200_while_PostgreSQL_is_up(string path)
    {
        using var client = ProducerSetup.Producer.CreateClient();

        using var response = await client.GetAsync(new Uri(path, UriKind.Relative));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task The_OpenAPI_document_describes_every_endpoint()
    {
        using var client = ProducerSetup.Producer.CreateClient();

        using var response = await client.GetAsync(new Uri("/openapi/v1.json", UriKind.Relative));
        var paths = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("paths")
            .EnumerateObject().Select(p => p.Name).ToList();

        Assert.That(paths, Is.SupersetOf(new[]
        {
            "/api/accounts", "/api/accounts/{accountId}/deposits", "/api/accounts/{accountId}/withdrawals",
            "/api/accounts/{accountId}/close", "/api/events", "/api/streams/{streamId}/events",
        }));
    }

    [Test]
    public async Task Unknown_routes_are_404_problem_details()
    {
        using var client = ProducerSetup.Producer.CreateClient();

        using var response = await client.GetAsync(new Uri("/api/nothing-here", UriKind.Relative));

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
            Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
        });
    }
}
