namespace EventReplay.Security;

/// <summary>
/// The roles a token carries (claim <see cref="ClaimType"/>): a <see cref="Reader"/> reads; a <see cref="Writer"/>
/// sends account commands and reads; an <see cref="Operator"/> runs replays and the operators' actions and reads.
/// </summary>
public static class Roles
{
    public const string ClaimType = "roles";

    public const string Reader = "reader";

    public const string Writer = "writer";

    public const string Operator = "operator";

    public static readonly IReadOnlyList<string> All = [Reader, Writer, Operator];
}

/// <summary>The authorization policies every route names: which roles it takes (see <see cref="Roles"/>).</summary>
public static class Policies
{
    /// <summary>Reads: any of the three roles.</summary>
    public const string Read = "read";

    /// <summary>Account commands: writers.</summary>
    public const string Write = "write";

    /// <summary>Replays and operators' actions: operators.</summary>
    public const string Operate = "operate";

    /// <summary>Health and the OpenAPI document: anyone (a gateway route's <c>AuthorizationPolicy</c>).</summary>
    public const string Anonymous = "anonymous";

    /// <summary>The roles each policy takes.</summary>
    public static IReadOnlyList<string> RolesOf(string policy) => policy switch
    {
        Read => Roles.All,
        Write => [Roles.Writer],
        Operate => [Roles.Operator],
        _ => throw new ArgumentOutOfRangeException(nameof(policy), policy, "Not a policy."),
    };
}
