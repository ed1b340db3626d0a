using System.CommandLine;
using System.Globalization;
using EventReplay.Security;

namespace EventReplay.Cli;

/// <summary>
/// <c>eventreplay token</c>: a token of the local signing key (<c>.local/secrets/token-signing.pem</c>, made by
/// <c>eng/services.sh</c>), printed alone on one line; and the token the other commands send when none is given.
/// </summary>
public static class TokenCommand
{
    /// <summary>What a command sends without <c>--token</c> or <c>EVENTREPLAY_TOKEN</c>: a local operator token, for 15 minutes.</summary>
    public static readonly TimeSpan DefaultLifetime = TimeSpan.FromMinutes(15);

    public static Command Build()
    {
        var role = new Option<string[]>("--role", "-r")
        {
            Description = "reader, writer or operator (repeat for more)", Required = true, AllowMultipleArgumentsPerToken = true,
        };
        role.AcceptOnlyFromAmong([.. Roles.All]);
        var name = new Option<string>("--name", "-n") { Description = "Who the token is for (its subject and name)", Required = true };
        var expires = new Option<string>("--expires", "-e") { Description = "How long it is valid: 30m, 1h, 7d… (default 1h)", DefaultValueFactory = _ => "1h" };
        var key = new Option<string?>("--key") { Description = "The signing key (PEM; default: .local/secrets/token-signing.pem of this repository)" };
        var command = new Command("token", "Print a token of the local signing key for a role (nothing else on standard output).")
        {
            role, name, expires, key,
        };
        command.SetAction(result =>
        {
            try
            {
                return Print(result, role, name, expires, key);
            }
            catch (ApiException exception)
            {
                Console.Error.WriteLine(exception.Message);
                return 1;
            }
        });
        return command;
    }

    private static int Print(ParseResult result, Option<string[]> role, Option<string> name, Option<string> expires, Option<string?> key)
    {
        {
            var lifetime = Lifetime(result.GetValue(expires)!);
            var file = result.GetValue(key) ?? LocalTokens.FindPrivateKeyFile() ?? throw new ApiException(0,
                "No signing key: run eng/services.sh start (it makes .local/secrets/token-signing.pem) or name one with --key.");
            var who = result.GetValue(name)!.Trim();
            if (who.Length is 0 or > 200)
            {
                throw new ApiException(0, "--name is 1 to 200 characters.");
            }

            Console.Out.WriteLine(LocalTokens.Mint(LocalTokens.LoadKey(file), who, result.GetValue(role)!.Distinct(), lifetime));
            return 0;
        }
    }

    /// <summary>The token a command sends: the one given, else a local operator token when this machine has the key, else none.</summary>
    public static string? Resolve(string? given) => LocalTokens.ForTool(given, [Roles.Operator, Roles.Writer], DefaultLifetime);

    private static TimeSpan Lifetime(string text)
    {
        if (text.Length >= 2 && long.TryParse(text[..^1], NumberStyles.None, CultureInfo.InvariantCulture, out var count) && count > 0)
        {
            TimeSpan? lifetime = text[^1] switch
            {
                'm' => TimeSpan.FromMinutes(count),
                'h' => TimeSpan.FromHours(count),
                'd' => TimeSpan.FromDays(count),
                _ => null,
            };
            if (lifetime is { } valid && valid <= TimeSpan.FromDays(365))
            {
                return valid;
            }
        }

        throw new ApiException(0, $"--expires {text}: a number and m, h or d (at most 365d).");
    }
}
