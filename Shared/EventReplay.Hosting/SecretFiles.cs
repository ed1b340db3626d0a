using System.Collections;
using Microsoft.Extensions.Configuration;

namespace EventReplay.Hosting;

/// <summary>
/// Settings whose value is a file's content, as Docker secrets and systemd credentials hand them over: an environment
/// variable <c>SECTION__NAME_FILE=/run/secrets/x</c> sets <c>SECTION:NAME</c> (e.g. <c>ConnectionStrings__rabbitmq_FILE</c>
/// the broker URL with its password), so a password never has to be in a committed file or in the environment itself.
/// Only names of a setting in a section (with <c>__</c>) count: other programs' variables end in <c>_FILE</c> too
/// (<c>TF_CLI_CONFIG_FILE</c>).
/// </summary>
public static class SecretFiles
{
    private const string Suffix = "_FILE";

    public static IConfigurationBuilder AddSecretFiles(this IConfigurationBuilder configuration) =>
        configuration.AddInMemoryCollection(Read(Environment.GetEnvironmentVariables()));

    /// <summary>The settings named by <paramref name="environment"/>'s <c>*_FILE</c> variables, each the file's content without its final line break.</summary>
    public static Dictionary<string, string?> Read(IDictionary environment)
    {
        var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (DictionaryEntry variable in environment)
        {
            if (variable.Key is not string name || !name.EndsWith(Suffix, StringComparison.Ordinal)
                || !name[..^Suffix.Length].Contains("__", StringComparison.Ordinal) || variable.Value is not string path || path.Length == 0)
            {
                continue;
            }

            var key = name[..^Suffix.Length].Replace("__", ConfigurationPath.KeyDelimiter, StringComparison.Ordinal);
            try
            {
                settings[key] = File.ReadAllText(path).TrimEnd('\r', '\n');
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
                throw new InvalidOperationException($"{name} names {path}, which cannot be read: {exception.Message}", exception);
            }
        }

        return settings;
    }
}
