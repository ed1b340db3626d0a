namespace EventReplay.Tests.Integration.BadInput;

/// <summary>
/// The corpus itself, read without a system: it parses, it is as large as promised, and it covers every route of the
/// gateway's appsettings.json with each method the route accepts and with a method it does not, so a new route cannot
/// be left out.
/// </summary>
public class CorpusCoverageTests
{
    private static readonly GatewayRoutes Routes = GatewayRoutes.Configured;

    [Test]
    public void The_corpus_holds_at_least_500_cases()
    {
        var total = HttpCase.All.Count + RawCase.All.Count + AmqpCase.All.Count;
        TestContext.Progress.WriteLine(
            $"Bad-input corpus: {HttpCase.All.Count} HTTP, {RawCase.All.Count} raw, {AmqpCase.All.Count} AMQP cases ({total}).");

        Assert.Multiple(() =>
        {
            Assert.That(total, Is.GreaterThanOrEqualTo(500));
            Assert.That(RawCase.All, Is.Not.Empty);
            Assert.That(AmqpCase.All, Is.Not.Empty);
        });
    }

    [Test]
    public void Every_route_of_the_gateway_has_its_documented_statuses()
    {
        var documented = HttpCase.Rules.Documented.Keys.Except(["any", GatewayRoutes.NoRoute, GatewayRoutes.WrongMethod]);

        Assert.That(documented, Is.EquivalentTo(Routes.Names));
    }

    [Test]
    public void Every_route_and_method_of_the_gateway_has_cases()
    {
        var covered = HttpCase.All.Select(c => (c.Route, c.Method.ToUpperInvariant())).ToHashSet();

        Assert.That(Routes.RouteMethods.Where(routeMethod => !covered.Contains(routeMethod)), Is.Empty, "route and method without a case");
    }

    [Test]
    public void Every_route_of_the_gateway_has_a_case_with_a_method_it_does_not_take()
    {
        var covered = HttpCase.All.Where(c => c.Route == GatewayRoutes.WrongMethod).SelectMany(c => c.PathRoutes).ToHashSet();

        Assert.That(Routes.Names.Where(route => !covered.Contains(route)), Is.Empty, "route without a wrong-method case");
    }

    [Test]
    public void Every_expected_status_is_one_the_README_documents_for_the_route_of_its_case()
    {
        var undocumented = HttpCase.All
            .Where(c => c.Expected.Any(status => !HttpCase.Rules.DocumentedFor(c.Route).Contains(status)))
            .Select(c => $"{c.Line} (route {c.Route})");

        Assert.That(undocumented, Is.Empty);
    }

    [Test]
    public void List_references_and_templates_expand_as_documented()
    {
        var values = new Dictionary<string, string> { ["open"] = "acc-1" };

        Assert.Multiple(() =>
        {
            Assert.That(Template.Bytes("""{"a":"{U+00E9}"}""", values), Is.EqualTo("""{"a":"é"}"""u8.ToArray()));
            Assert.That(Template.Bytes("{U+D800}", values), Is.EqualTo(new byte[] { 0xED, 0xA0, 0x80 }), "a lone surrogate, as UTF-8 forbids it");
            Assert.That(Template.Bytes("{x:C0AF}{rep:3:[}{rbrace:2}", values),
                Is.EqualTo(new byte[] { 0xC0, 0xAF, (byte)'[', (byte)'[', (byte)'[', (byte)'}', (byte)'}' }));
            Assert.That(Template.Bytes("/api/accounts/{open}/x{sp}{nothing}{unknown}", values), Is.EqualTo("/api/accounts/acc-1/x {unknown}"u8.ToArray()));
            Assert.That(Template.Bytes("""{"amount":"\u0000"}""", values), Is.EqualTo("""{"amount":"\u0000"}"""u8.ToArray()), "JSON escapes pass as written");
            Assert.That(Template.Bytes("a{U+00E9}", values, utf16: true), Is.EqualTo(new byte[] { (byte)'a', 0, 0xE9, 0 }));
        });
    }
}
