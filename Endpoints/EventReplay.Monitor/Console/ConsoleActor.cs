namespace EventReplay.Monitor.Console;

/// <summary>Who acts in the console: the signed-in user once there is one, else the <c>X-Requested-By</c> header, else "console".</summary>
public static class ConsoleActor
{
    public static string Of(HttpContext context) =>
        context.User.Identity?.Name is { Length: > 0 } name ? name
        : context.Request.Headers["X-Requested-By"].FirstOrDefault() is { Length: > 0 and <= 200 } requestedBy ? requestedBy
        : "console";
}
