using System.Text.Json;
using System.Text.Json.Nodes;
using EventReplay.Security;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.OpenApi;

namespace EventReplay.Hosting;

/// <summary>An example for the OpenAPI document: of the request body (<see cref="Status"/> null) or of one response.</summary>
public sealed record ApiExample(int? Status, object Value);

/// <summary>A header or query value an operation reads itself (not bound to a parameter), for the OpenAPI document.</summary>
public sealed record ApiParameter(string Name, ParameterLocation In, string Description, JsonSchemaType Type, string? Format);

/// <summary>
/// Each service's part of the public contract (<c>/openapi/v1.json</c>, which the gateway merges into one document):
/// every operation says who may call it (the bearer scheme and <c>x-roles</c>, from the policy it requires) and
/// carries the answers every public route can give besides its own (401 and 403 where a token is needed, 400, 413
/// and 415 where it takes a body, 429 from the gateway's rate limits, 503 when a dependency is down), each with the
/// problem-details schema.
/// </summary>
public static class PublicApi
{
    public const string BearerScheme = "bearer";

    public const string RolesExtension = "x-roles";

    public const string ProblemSchema = "ProblemDetails";

    // A request's example leaves out what it does not set; a response's shows every field, null or not.
    private static readonly JsonSerializerOptions RequestExampleJson = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    private static readonly JsonSerializerOptions ResponseExampleJson = new(JsonSerializerDefaults.Web);

    /// <summary>The OpenAPI document with the service's tags (name and what they hold).</summary>
    public static WebApplicationBuilder AddPublicApi(this WebApplicationBuilder builder, params (string Name, string Description)[] tags)
    {
        builder.Services.AddOpenApi(options =>
        {
            // 3.0: what every client generator and linter reads today.
            options.OpenApiVersion = OpenApiSpecVersion.OpenApi3_0;
            options.AddOperationTransformer(Describe);
            options.AddSchemaTransformer(Optional);
            options.AddDocumentTransformer(async (document, context, cancellationToken) =>
            {
                document.Components ??= new OpenApiComponents();
                document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
                if (!document.Components.Schemas.ContainsKey(ProblemSchema))
                {
                    document.Components.Schemas[ProblemSchema] = await context.GetOrCreateSchemaAsync(typeof(ProblemDetails), null, cancellationToken);
                }

                document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
                document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.Http,
                    Scheme = "bearer",
                    BearerFormat = "JWT",
                    Description = "An OAuth 2.0 access token (JWT) from the configured authority, with the role the operation names "
                                  + "in its `roles` claim. Locally: `eng/eventreplay token --role reader|writer|operator --name NAME`.",
                };
                foreach (var operation in (document.Paths ?? []).Values.SelectMany(path => path.Operations?.Values.AsEnumerable() ?? []))
                {
                    if (operation.Extensions?.ContainsKey(RolesExtension) == true)
                    {
                        operation.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, document)] = [] }];
                    }
                }

                document.Tags = new HashSet<OpenApiTag>(tags.Select(tag => new OpenApiTag { Name = tag.Name, Description = tag.Description }));
            });
        });
        return builder;
    }

    /// <summary>An example of the request body.</summary>
    public static RouteHandlerBuilder RequestExample(this RouteHandlerBuilder endpoint, object body) =>
        endpoint.WithMetadata(new ApiExample(null, body));

    /// <summary>An example of the answer with this status.</summary>
    public static RouteHandlerBuilder ResponseExample(this RouteHandlerBuilder endpoint, int status, object body) =>
        endpoint.WithMetadata(new ApiExample(status, body));

    /// <summary>A request header the handler reads.</summary>
    public static RouteHandlerBuilder Header(this RouteHandlerBuilder endpoint, string name, string description) =>
        endpoint.WithMetadata(new ApiParameter(name, ParameterLocation.Header, description, JsonSchemaType.String, null));

    /// <summary>A query value the handler reads (and checks) itself: a string unless said otherwise.</summary>
    public static RouteHandlerBuilder Query(this RouteHandlerBuilder endpoint, string name, string description,
        JsonSchemaType type = JsonSchemaType.String, string? format = null) =>
        endpoint.WithMetadata(new ApiParameter(name, ParameterLocation.Query, description, type, format));

    /// <summary>The roles an endpoint takes: null when it needs no token.</summary>
    public static IReadOnlyList<string>? RolesOf(IEnumerable<object> metadata)
    {
        var items = metadata.ToList();
        if (items.OfType<IAllowAnonymous>().Any())
        {
            return null;
        }

        var policies = items.OfType<IAuthorizeData>().Select(data => data.Policy).OfType<string>().ToList();
        return policies.Count == 0 ? null : [.. policies.Select(Policies.RolesOf).Aggregate((all, next) => [.. all.Intersect(next)])];
    }

    private static Task Describe(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var metadata = context.Description.ActionDescriptor.EndpointMetadata;
        operation.Responses ??= new OpenApiResponses();
        if (RolesOf(metadata) is { } roles)
        {
            operation.Extensions ??= new Dictionary<string, IOpenApiExtension>();
            operation.Extensions[RolesExtension] = new JsonNodeExtension(new JsonArray([.. roles.Select(role => JsonValue.Create(role))]));
            operation.Description = Sentences(operation.Description, $"Role: {string.Join(" or ", roles)}.");
            Problem(operation, 401, "No bearer token, or one that is not valid (expired, not yet valid, signed by another key, for "
                                    + "another issuer or audience). `WWW-Authenticate: Bearer` says why.");
            Problem(operation, 403, "The token is valid but has none of the roles this operation takes.");
        }

        foreach (var parameter in metadata.OfType<ApiParameter>())
        {
            // Described here in full: instead of what binding a string parameter of the same name said.
            operation.Parameters ??= [];
            foreach (var bound in operation.Parameters.Where(given => given.Name == parameter.Name && given.In == parameter.In).ToList())
            {
                operation.Parameters.Remove(bound);
            }

            operation.Parameters.Add(new OpenApiParameter
            {
                Name = parameter.Name, In = parameter.In, Required = false, Description = parameter.Description,
                Schema = new OpenApiSchema { Type = parameter.Type, Format = parameter.Format },
            });
        }

        if (operation.RequestBody is not null)
        {
            Problem(operation, 400, "The body is not valid JSON of this shape, or a value is out of range: `errors` names each field.");
            Problem(operation, 413, "The body is larger than the services take.");
            Problem(operation, 415, "The body is not `application/json`.");
        }

        Problem(operation, 429, "Over this client's rate limit (per token subject, else per address): `Retry-After` says when to try again.",
            retryAfter: true);
        Problem(operation, 503, "A service or database this operation needs is not available, or did not answer in time: try again.",
            retryAfter: true);
        foreach (var (status, response) in operation.Responses)
        {
            if (int.TryParse(status, out var code) && code >= 400 && response is OpenApiResponse { Content: null or { Count: 0 } } bare)
            {
                bare.Content = ProblemContent();
            }
        }

        foreach (var example in metadata.OfType<ApiExample>())
        {
            var value = JsonSerializer.SerializeToNode(example.Value, example.Status is null ? RequestExampleJson : ResponseExampleJson);
            var content = example.Status is { } status
                ? operation.Responses.TryGetValue(status.ToString(System.Globalization.CultureInfo.InvariantCulture), out var response) ? response.Content : null
                : operation.RequestBody?.Content;
            foreach (var media in (content ?? new Dictionary<string, OpenApiMediaType>()).Values)
            {
                media.Example = value;
            }
        }

        return Task.CompletedTask;
    }

    // A property that may be null may also be left out (every body is read that way): it is not required.
    private static Task Optional(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken cancellationToken)
    {
        if (schema.Required is { Count: > 0 } required && schema.Properties is { } properties)
        {
            foreach (var (name, property) in properties)
            {
                if (Nullable(property))
                {
                    required.Remove(name);
                }
            }
        }

        return Task.CompletedTask;
    }

    private static bool Nullable(IOpenApiSchema schema) =>
        schema.Type is { } type && type.HasFlag(JsonSchemaType.Null)
        || (schema.OneOf ?? []).Concat(schema.AnyOf ?? []).Any(member => member.Type is { } memberType && memberType.HasFlag(JsonSchemaType.Null));

    private static void Problem(OpenApiOperation operation, int status, string description, bool retryAfter = false)
    {
        var key = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (operation.Responses!.ContainsKey(key))
        {
            return;
        }

        var response = new OpenApiResponse { Description = description, Content = ProblemContent() };
        if (retryAfter)
        {
            response.Headers = new Dictionary<string, IOpenApiHeader>
            {
                ["Retry-After"] = new OpenApiHeader
                {
                    Description = "Seconds to wait before trying again.", Schema = new OpenApiSchema { Type = JsonSchemaType.Integer },
                },
            };
        }

        operation.Responses[key] = response;
    }

    private static Dictionary<string, OpenApiMediaType> ProblemContent() => new()
    {
        ["application/problem+json"] = new OpenApiMediaType { Schema = new OpenApiSchemaReference(ProblemSchema) },
    };

    private static string Sentences(string? first, string second) => string.IsNullOrEmpty(first) ? second : $"{first} {second}";
}

/// <summary>The public contract's tags, one per capability, described once for every service that shares one.</summary>
public static class ApiTags
{
    public static readonly (string Name, string Description) Accounts = ("Accounts",
        "Open an account, deposit, withdraw and close (each an event the producer records), and read an account's balance "
        + "(the balances read model).");

    public static readonly (string Name, string Description) EventStore = ("Event store",
        "The event log in position order, and one stream in version order.");

    public static readonly (string Name, string Description) Statistics = ("Statistics",
        "Totals over every account (the statistics read model).");

    public static readonly (string Name, string Description) Replays = ("Replays",
        "Re-send history from the event store to one consumer: redeliver, rebuild without downtime, repair gaps; plan with a dry "
        + "run; pause, resume or cancel a running replay.");

    public static readonly (string Name, string Description) Monitoring = ("Monitoring",
        "Each endpoint's health and throughput, and each queue's depth, as the monitor last saw them.");

    public static readonly (string Name, string Description) FailedMessages = ("Failed messages",
        "Messages a consumer set aside, grouped by cause: inspect, retry (one, a group or a selection), edit and retry, archive.");

    public static readonly (string Name, string Description) Audit = ("Audit",
        "Who did what, when, from which address: every replay and operator action.");
}
