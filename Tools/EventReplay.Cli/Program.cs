using System.CommandLine;
using EventReplay.Cli;
using Spectre.Console;

// eventreplay replay start|list|show|pause|resume|cancel — the replay API from a terminal.
var api = new Option<string>("--api")
{
    Description = "The public API (default: $EVENTREPLAY_API or http://127.0.0.1:8080)",
    DefaultValueFactory = _ => Environment.GetEnvironmentVariable("EVENTREPLAY_API") ?? "http://127.0.0.1:8080",
    Recursive = true,
};
var root = new RootCommand("EventReplay: re-send history from the event store to one consumer, safely, while live traffic flows.");
root.Options.Add(api);
root.Subcommands.Add(ReplayCommands.Build(api));
return await root.Parse(args).InvokeAsync();
