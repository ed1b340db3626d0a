namespace EventReplay.Producer.Http;

/// <summary>The API's problem-details responses, one place for titles and statuses.</summary>
public static class Problems
{
    public static IResult Invalid(string field, string message) =>
        Invalid(new Dictionary<string, string[]> { [field] = [message] });

    public static IResult Invalid(IDictionary<string, string[]> errors) =>
        TypedResults.ValidationProblem(errors, title: "The request is invalid");

    public static IResult NotFound(string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status404NotFound, title: "Not found");

    public static IResult Conflict(string title, string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status409Conflict, title: title);

    public static IResult PreconditionFailed(string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status412PreconditionFailed, title: "Version mismatch");

    public static IResult Unavailable(HttpResponse response, string detail)
    {
        response.Headers.RetryAfter = "1";
        return TypedResults.Problem(detail, statusCode: StatusCodes.Status503ServiceUnavailable, title: "Temporarily unavailable");
    }

    public static IResult KeyReused() =>
        TypedResults.Problem("This Idempotency-Key was already used with a different request.",
            statusCode: StatusCodes.Status422UnprocessableEntity, title: "Idempotency-Key reused");
}
