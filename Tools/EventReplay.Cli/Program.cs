using System.CommandLine;
using EventReplay.Cli;
using Spectre.Console;

// eventreplay replay start|list|show|pause|resume|cancel — the replay API from a terminal; eventreplay token — a local token.
var api = new Option<string>("--api")
{
    Description = "The public API (default: $EVENTREPLAY_API or http://127.0.0.1:8080)",
    DefaultValueFactory = _ => Environment.GetEnvironmentVariable("EVENTREPLAY_API") ?? "http://127.0.0.1:8080",
    Recursive = true,
};
var token = new Option<string?>("--token")
{
    Description = "A bearer token for the API (default: $EVENTREPLAY_TOKEN, else a local operator token from .local/secrets when there is one)",
    DefaultValueFactory = _ => Environment.GetEnvironmentVariable("EVENTREPLAY_TOKEN"),
    Recursive = true,
};
var root = new RootCommand("EventReplay: re-send history from the event store to one consumer, safely, while live traffic flows.");
root.Options.Add(api);
root.Options.Add(token);
root.Subcommands.Add(ReplayCommands.Build(api));
root.Subcommands.Add(TokenCommand.Build());
var parsed = root.Parse(args);
ReplayCommands.Token = parsed.GetValue(token);
return await parsed.InvokeAsync();
