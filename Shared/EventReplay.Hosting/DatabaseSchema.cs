using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EventReplay.Hosting;

/// <summary>Who makes a service's tables: see <see cref="DatabaseSchema"/>.</summary>
public sealed record SchemaMode(string Name)
{
    /// <summary>The service connects as a role with data privileges only: a migration made its tables (the default).</summary>
    public static readonly SchemaMode Expect = new("expect");

    /// <summary>The service connects as the owner role and creates or updates its tables at start (tests, development).</summary>
    public static readonly SchemaMode Apply = new("apply");

    /// <summary>The service was started to migrate: it creates or updates its tables as the owner role, then exits.</summary>
    public static readonly SchemaMode Migrate = new("migrate");

    /// <summary>Whether this process creates or updates tables (as the owner role).</summary>
    public bool Changes() => this != Expect;
}

/// <summary>
/// Schema changes are made by the owner role in a step of their own: <c>eng/migrate.sh</c> runs each service with the
/// argument <c>migrate</c> (the owner's connection strings), which applies its tables, functions and indexes (Marten's,
/// Wolverine's and the service's own) and exits; then the service runs as its own role, which may read and write rows
/// and change nothing else (<c>Database:Schema</c> = <c>expect</c>, the default). <c>Database:Schema</c> =
/// <c>apply</c> makes a service connected as the owner create what is missing at start, as the tests' stacks do.
/// </summary>
public static partial class DatabaseSchema
{
    public const string MigrateArgument = "migrate";

    /// <summary>The mode of this process (the <c>migrate</c> argument, else <c>Database:Schema</c>), registered as a singleton.</summary>
    public static SchemaMode AddDatabaseSchema(this WebApplicationBuilder builder, string[] args)
    {
        var mode = args.Contains(MigrateArgument) ? SchemaMode.Migrate
            : builder.Configuration["Database:Schema"]?.ToLowerInvariant() switch
            {
                null or "" or "expect" => SchemaMode.Expect,
                "apply" => SchemaMode.Apply,
                var other => throw new InvalidOperationException(
                    $"Database:Schema is '{other}': 'expect' (a migration made the tables: eng/migrate.sh) or 'apply' (create them at start, as the owner role)."),
            };
        builder.Services.AddSingleton(mode);
        return mode;
    }

    /// <summary>
    /// Runs <paramref name="apply"/> unless the tables are expected, waiting for PostgreSQL with back-off; returns true
    /// when the process was started to migrate and should now exit.
    /// </summary>
    public static async Task<bool> ApplySchemaAsync(this WebApplication app, string what, Func<CancellationToken, Task> apply)
    {
        var mode = app.Services.GetRequiredService<SchemaMode>();
        if (!mode.Changes())
        {
            return false;
        }

        await DependencyWait.UntilDoneAsync(apply, app.Logger, what, app.Lifetime.ApplicationStopping);
        if (mode != SchemaMode.Migrate)
        {
            return false;
        }

        LogMigrated(app.Logger, what);
        return true;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Migrated: {What}")]
    private static partial void LogMigrated(ILogger logger, string what);
}
