using System.Net;
using System.Text.Json;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Producer;

/// <summary>A test against the shared producer process, with a fresh client per test.</summary>
public abstract class ProducerTest
{
    protected ProducerApi Api { get; private set; } = null!;

    [SetUp]
    public void CreateClient() => Api = ProducerSetup.Api();

    [TearDown]
    public void DisposeClient() => Api.Http.Dispose();

    /// <summary>Asserts an RFC 9457 problem response with the given status and returns its body.</summary>
    protected static async Task<JsonElement> AssertProblem(HttpResponseMessage response, HttpStatusCode status)
    {
        var body = await ProducerApi.BodyAsync(response, (int)status);
        Assert.Multiple(() =>
        {
            Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
            Assert.That(body.GetProperty("status").GetInt32(), Is.EqualTo((int)status));
            Assert.That(body.GetProperty("title").GetString(), Is.Not.Empty);
        });
        return body;
    }
}
