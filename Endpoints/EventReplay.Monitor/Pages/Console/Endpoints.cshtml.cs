using EventReplay.Monitor.Endpoints;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace EventReplay.Monitor.Pages.Console;

public sealed class EndpointsModel(EndpointStore endpoints, TimeProvider clock) : PageModel
{
    public DateTimeOffset Now { get; private set; }

    public IReadOnlyList<EndpointInstance> Instances { get; private set; } = [];

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        Now = clock.GetUtcNow();
        Instances = await endpoints.ListAsync(cancellationToken);
    }
}
