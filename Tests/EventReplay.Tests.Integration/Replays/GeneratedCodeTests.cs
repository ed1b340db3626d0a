using System.Diagnostics;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Replays;

/// <summary>
/// The replay service loads its message handlers from code generated ahead of time (Internal/Generated). A handler
/// added or changed without regenerating would run stale code or fail at start: this regenerates and compares.
/// </summary>
public class GeneratedCodeTests
{
    [Test]
    public async Task The_committed_handler_code_is_what_the_current_handlers_generate()
    {
        var project = Path.Combine(TestEnvironment.RepoRoot, "Endpoints", "EventReplay.Replay");
        var scratch = Directory.CreateTempSubdirectory("eventreplay-codegen-");
        try
        {
            var start = new ProcessStartInfo("dotnet", [TestEnvironment.ServiceAssembly("EventReplay.Replay"), "codegen", "write"])
            {
                WorkingDirectory = scratch.FullName,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var (name, value) in TestEnvironment.ServiceConnections())
            {
                start.Environment[name] = value;
            }

            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.That(process.ExitCode, Is.Zero, await output + await error);

            var committed = Files(Path.Combine(project, "Internal", "Generated"));
            var fresh = Files(Path.Combine(scratch.FullName, "Internal", "Generated"));
            Assert.Multiple(() =>
            {
                Assert.That(fresh.Keys, Is.EquivalentTo(committed.Keys),
                    "run 'dotnet run --project Endpoints/EventReplay.Replay -- codegen write' and commit Internal/Generated");
                foreach (var (file, text) in fresh.Where(f => committed.ContainsKey(f.Key)))
                {
                    Assert.That(text, Is.EqualTo(committed[file]), $"{file} is stale: regenerate it (codegen write)");
                }
            });
        }
        finally
        {
            scratch.Delete(recursive: true);
        }
    }

    private static Dictionary<string, string> Files(string root) =>
        Directory.Exists(root)
            ? Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
                .ToDictionary(path => Path.GetRelativePath(root, path), path => File.ReadAllText(path).ReplaceLineEndings())
            : [];
}
