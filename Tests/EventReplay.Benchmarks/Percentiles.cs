namespace EventReplay.Benchmarks;

/// <summary>Nearest-rank percentiles of a set of values (NaN for an empty set).</summary>
public sealed record Percentiles(double P50, double P95, double P99, double Max, double P999)
{
    public static Percentiles Of(List<double> values)
    {
        if (values.Count == 0)
        {
            return new Percentiles(double.NaN, double.NaN, double.NaN, double.NaN, double.NaN);
        }

        values.Sort();
        double At(double q) => values[Math.Max(0, Math.Min(values.Count - 1, (int)Math.Ceiling(q * values.Count) - 1))];
        return new Percentiles(At(0.50), At(0.95), At(0.99), values[^1], At(0.999));
    }
}
