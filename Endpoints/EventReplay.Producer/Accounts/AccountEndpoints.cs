using System.Globalization;
using System.Text.Json.Serialization;
using EventReplay.Contracts.Accounts;
using EventReplay.Hosting;
using EventReplay.Producer.Http;
using EventReplay.Producer.Idempotency;
using Microsoft.Net.Http.Headers;
using EventReplay.Security;

namespace EventReplay.Producer.Accounts;

public sealed record OpenAccountRequest(string? AccountId, string? Owner);

public sealed record AmountRequest([property: JsonConverter(typeof(ExactDecimalConverter))] decimal? Amount);

public sealed record AccountRecorded(string AccountId, long Version, long Position);

public static class AccountEndpoints
{
    public static IEndpointRouteBuilder MapAccounts(this IEndpointRouteBuilder app)
    {
        var accounts = app.MapGroup("/api/accounts").WithTags("Accounts").RequireAuthorization(Policies.Write);
        accounts.MapPost("/", OpenAsync)
            .WithName("openAccount").WithSummary("Open an account")
            .WithDescription("Records AccountOpened. Answers 201 with the account's stream version and the event's position in the log.")
            .Accepts<OpenAccountRequest>("application/json")
            .Produces<AccountRecorded>(StatusCodes.Status201Created)
            .RequestExample(new OpenAccountRequest("acc-1001", "Ada Lovelace"))
            .ResponseExample(StatusCodes.Status201Created, new AccountRecorded("acc-1001", 1, 4711))
            .Commands();
        accounts.MapPost("/{accountId}/deposits", (string accountId, HttpRequest request, AccountWriter writer, CancellationToken ct) =>
                ChangeFundsAsync(accountId, request, writer, amount => new DepositFunds(accountId, amount), ct))
            .WithName("deposit").WithSummary("Deposit into an account")
            .WithDescription("Records FundsDeposited. The amount is positive, with at most two decimals.")
            .Accepts<AmountRequest>("application/json")
            .Produces<AccountRecorded>()
            .RequestExample(new AmountRequest(25.50m))
            .ResponseExample(StatusCodes.Status200OK, new AccountRecorded("acc-1001", 2, 4712))
            .Commands();
        accounts.MapPost("/{accountId}/withdrawals", (string accountId, HttpRequest request, AccountWriter writer, CancellationToken ct) =>
                ChangeFundsAsync(accountId, request, writer, amount => new WithdrawFunds(accountId, amount), ct))
            .WithName("withdraw").WithSummary("Withdraw from an account")
            .WithDescription("Records FundsWithdrawn; 409 when the balance is too low.")
            .Accepts<AmountRequest>("application/json")
            .Produces<AccountRecorded>()
            .RequestExample(new AmountRequest(10m))
            .ResponseExample(StatusCodes.Status200OK, new AccountRecorded("acc-1001", 3, 4713))
            .Commands();
        accounts.MapPost("/{accountId}/close", CloseAsync)
            .WithName("closeAccount").WithSummary("Close an account")
            .WithDescription("Records AccountClosed; a closed account takes no more commands.")
            .Produces<AccountRecorded>()
            .ResponseExample(StatusCodes.Status200OK, new AccountRecorded("acc-1001", 4, 4714))
            .Commands();
        return app;
    }

    // What every account command may answer besides its success: the headers it reads and its refusals.
    private static RouteHandlerBuilder Commands(this RouteHandlerBuilder endpoint) => endpoint
        .Header("Idempotency-Key", "Makes the command safe to retry: the same key with the same request answers as the first time "
                                   + "(for 24 hours); with a different request, 422. 1 to 200 printable ASCII characters.")
        .Header("If-Match", "The account's version (the ETag of the last answer) the command expects; otherwise 412.")
        .ProducesValidationProblem()
        .ProducesProblem(StatusCodes.Status404NotFound)
        .ProducesProblem(StatusCodes.Status409Conflict)
        .ProducesProblem(StatusCodes.Status412PreconditionFailed)
        .ProducesProblem(StatusCodes.Status422UnprocessableEntity);

    private static async Task<IResult> OpenAsync(HttpRequest request, AccountWriter writer, CancellationToken ct)
    {
        var (body, problem) = await JsonBody.ReadAsync<OpenAccountRequest>(request, ct);
        if (problem is not null)
        {
            return problem;
        }

        var errors = new Dictionary<string, string[]>();
        AddError(errors, "accountId", AccountId.Check(body!.AccountId));
        AddError(errors, "owner", AccountRules.CheckOwner(body.Owner));
        return await ExecuteAsync(new OpenAccount(body.AccountId!, body.Owner?.Trim()!), request, writer, errors, ct);
    }

    private static async Task<IResult> ChangeFundsAsync(string accountId, HttpRequest request, AccountWriter writer,
        Func<decimal, AccountCommand> command, CancellationToken ct)
    {
        var (body, problem) = await JsonBody.ReadAsync<AmountRequest>(request, ct);
        if (problem is not null)
        {
            return problem;
        }

        var errors = new Dictionary<string, string[]>();
        AddError(errors, "accountId", AccountId.Check(accountId));
        AddError(errors, "amount", AccountRules.CheckAmount(body!.Amount));
        return await ExecuteAsync(command(body.Amount.GetValueOrDefault()), request, writer, errors, ct);
    }

    private static Task<IResult> CloseAsync(string accountId, HttpRequest request, AccountWriter writer, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        AddError(errors, "accountId", AccountId.Check(accountId));
        return ExecuteAsync(new CloseAccount(accountId), request, writer, errors, ct);
    }

    private static async Task<IResult> ExecuteAsync(AccountCommand command, HttpRequest request, AccountWriter writer,
        Dictionary<string, string[]> errors, CancellationToken ct)
    {
        var keys = request.Headers["Idempotency-Key"];
        string? idempotencyKey = null;
        if (keys.Count > 1)
        {
            AddError(errors, "Idempotency-Key", "must be given once");
        }
        else if (keys.Count == 1)
        {
            idempotencyKey = keys[0]!;
            AddError(errors, "Idempotency-Key", IdempotencyRecord.CheckKey(idempotencyKey));
        }

        var (precondition, ifMatchError) = VersionPrecondition.Parse(request.Headers.IfMatch);
        AddError(errors, HeaderNames.IfMatch, ifMatchError);
        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        var result = await Deadline.Within(writer.WriteAsync(command, new CommandOptions(idempotencyKey, precondition), ct), request.HttpContext);
        return ToHttp(result, command, request.HttpContext.Response);
    }

    private static IResult ToHttp(WriteResult result, AccountCommand command, HttpResponse response)
    {
        switch (result)
        {
            case WriteResult.Recorded recorded:
                response.Headers.ETag = Quote(recorded.Version);
                var body = new AccountRecorded(recorded.AccountId, recorded.Version, recorded.Position);
                return recorded.Created
                    ? TypedResults.Created($"/api/accounts/{recorded.AccountId}", body)
                    : TypedResults.Ok(body);
            case WriteResult.VersionMismatch mismatch:
                response.Headers.ETag = Quote(mismatch.Actual);
                return Problems.PreconditionFailed(
                    $"Account {command.AccountId} is at version {mismatch.Actual}, which If-Match does not name.");
            case WriteResult.Refused { Rejection: Rejection.NotFound }:
                return Problems.NotFound($"Account {command.AccountId} does not exist.");
            case WriteResult.Refused { Rejection: Rejection.AlreadyExists }:
                return Problems.Conflict("Account already exists", $"Account {command.AccountId} already exists.");
            case WriteResult.Refused { Rejection: Rejection.Closed }:
                return Problems.Conflict("Account closed", $"Account {command.AccountId} is closed.");
            case WriteResult.Refused { Rejection: Rejection.InsufficientFunds }:
                return Problems.Conflict("Insufficient funds", $"Account {command.AccountId} has too little money for this withdrawal.");
            case WriteResult.KeyReused:
                return Problems.KeyReused();
            case WriteResult.Busy:
                return Problems.Unavailable(response, "More commands are waiting than the producer takes; retry.");
            default:
                throw new InvalidOperationException($"Unexpected write result {result}.");
        }
    }

    private static void AddError(Dictionary<string, string[]> errors, string field, string? error)
    {
        if (error is not null)
        {
            errors[field] = [error];
        }
    }

    private static string Quote(long version) => $"\"{version.ToString(CultureInfo.InvariantCulture)}\"";
}
