using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using EventReplay.Tests.Integration.Infrastructure;

namespace EventReplay.Tests.Integration.Running;

/// <summary>eng/supervise.sh on its own, over a trivial command that prints its pid, as eng/run.sh uses it for each process.</summary>
public partial class SupervisorTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    private Supervisor _supervisor = null!;

    [TearDown]
    public async Task StopSupervisor() => await _supervisor.DisposeAsync();

    [Test]
    public async Task A_child_killed_with_SIGKILL_is_started_again_and_the_line_names_the_signal()
    {
        _supervisor = Supervisor.Start("sleeper", "echo \"child $$\"; exec sleep 600");
        var first = await _supervisor.ChildAsync(1);

        await Signals.SendAsync(first, "KILL");

        var second = await _supervisor.ChildAsync(2);
        Assert.Multiple(() =>
        {
            Assert.That(second, Is.Not.EqualTo(first));
            Assert.That(Signals.IsRunning(second), Is.True);
            Assert.That(_supervisor.Notes, Has.Count.EqualTo(1));
            Assert.That(_supervisor.Notes[0], Does.Match(@"^supervise: sleeper exited \(signal KILL\) after \d+ s; restart 1 in 1 s$"));
        });
    }

    [Test]
    public async Task A_child_that_exits_with_code_3_is_named_by_its_exit_code_and_restarted_after_1_then_2_seconds()
    {
        _supervisor = Supervisor.Start("three", "echo \"child $$\"; exit 3");

        await _supervisor.ChildAsync(3);

        Assert.Multiple(() =>
        {
            Assert.That(_supervisor.Notes[0], Does.Match(@"^supervise: three exited \(code 3\) after 0 s; restart 1 in 1 s$"));
            Assert.That(_supervisor.Notes[1], Does.Match(@"^supervise: three exited \(code 3\) after 0 s; restart 2 in 2 s$"));
        });
    }

    [Test]
    public async Task SIGTERM_to_the_supervisor_stops_the_child_restarts_nothing_and_ends_the_supervisor()
    {
        _supervisor = Supervisor.Start("sleeper", "echo \"child $$\"; exec sleep 600");
        var child = await _supervisor.ChildAsync(1);

        await Signals.SendAsync(_supervisor.Pid, "TERM");

        var exitCode = await _supervisor.ExitCodeAsync();
        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.Zero);
            Assert.That(Signals.IsRunning(child), Is.False, "the child");
            Assert.That(_supervisor.Children, Has.Count.EqualTo(1), "children started");
            Assert.That(_supervisor.Notes, Is.Empty, "restart lines");
        });
    }

    [Test]
    public async Task A_supervisor_killed_with_SIGKILL_takes_its_child_with_it()
    {
        _supervisor = Supervisor.Start("sleeper", "echo \"child $$\"; exec sleep 600");
        var child = await _supervisor.ChildAsync(1);

        await Signals.SendAsync(_supervisor.Pid, "KILL");

        await Eventually.Until(() => Task.FromResult(Signals.IsRunning(child)), running => !running, Patience,
            $"the child {child} to end with its supervisor");
    }

    [GeneratedRegex(@"^child (\d+)$")]
    private static partial Regex ChildLine();

    /// <summary>eng/supervise.sh NAME -- bash -c SCRIPT, its output (the children's) and its own lines kept apart.</summary>
    private sealed class Supervisor : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly List<int> _children = [];
        private readonly List<string> _notes = [];

        private Supervisor(Process process)
        {
            _process = process;
            _process.OutputDataReceived += (_, line) =>
            {
                if (line.Data is not null && ChildLine().Match(line.Data) is { Success: true } match)
                {
                    lock (_children)
                    {
                        _children.Add(int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture));
                    }
                }
            };
            _process.ErrorDataReceived += (_, line) =>
            {
                if (line.Data is not null)
                {
                    lock (_notes)
                    {
                        _notes.Add(line.Data);
                    }
                }
            };
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public int Pid => _process.Id;

        /// <summary>Pids of the children started so far, in order.</summary>
        public IReadOnlyList<int> Children
        {
            get
            {
                lock (_children)
                {
                    return [.. _children];
                }
            }
        }

        /// <summary>The supervisor's own lines (on its standard error; the children write on standard output).</summary>
        public IReadOnlyList<string> Notes
        {
            get
            {
                lock (_notes)
                {
                    return [.. _notes];
                }
            }
        }

        public static Supervisor Start(string name, string script) =>
            new(Process.Start(new ProcessStartInfo("bash",
                [Path.Combine(TestEnvironment.RepoRoot, "eng", "supervise.sh"), name, "--", "bash", "-c", script])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!);

        /// <summary>The pid of the <paramref name="number"/>th child, once it has started.</summary>
        public async Task<int> ChildAsync(int number)
        {
            var children = await Eventually.Until(() => Task.FromResult(Children), started => started.Count >= number, Patience,
                $"child {number} to start (supervisor said: {string.Join(" | ", Notes)})");
            return children[number - 1];
        }

        public async Task<int> ExitCodeAsync()
        {
            using var deadline = new CancellationTokenSource(Patience);
            await _process.WaitForExitAsync(deadline.Token);
            return _process.ExitCode;
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                await Signals.SendAsync(_process.Id, "TERM");
                await ExitCodeAsync();
            }

            _process.Dispose();
        }
    }
}
