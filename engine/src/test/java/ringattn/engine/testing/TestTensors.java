package ringattn.engine.testing;

import java.util.SplittableRandom;
import ringattn.engine.reference.ReferenceAttention;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/** Seeded inputs and error measures shared by the tests. */
public final class TestTensors {
    private TestTensors() {
    }

    /** A tensor of N(0, 1) values (stored in {@code dtype}, so BF16 values are rounded). */
    public static Tensor normal(long seed, int tokens, int heads, int headDim, DType dtype) {
        Tensor t = Tensor.allocate(tokens, heads, headDim, dtype);
        SplittableRandom rnd = new SplittableRandom(seed);
        long n = t.elementCount();
        for (long i = 0; i < n; i++) {
            t.setFlat(i, (float) gaussian(rnd));
        }
        return t;
    }

    private static double gaussian(SplittableRandom rnd) {
        double u = 1.0 - rnd.nextDouble();
        double v = rnd.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }

    /** max |a − ref| over all elements of a tensor against a flat fp64 array. */
    public static double maxAbsError(Tensor a, double[] ref) {
        double max = 0;
        for (long i = 0; i < a.elementCount(); i++) {
            double e = Math.abs(a.getFlat(i) - ref[(int) i]);
            if (Double.isNaN(e)) {
                return Double.NaN;
            }
            max = Math.max(max, e);
        }
        return max;
    }

    /** max |a − ref| / max |ref| (relative to the largest reference magnitude). */
    public static double maxRelError(Tensor a, double[] ref) {
        double scale = 0;
        for (double r : ref) {
            scale = Math.max(scale, Math.abs(r));
        }
        return maxAbsError(a, ref) / Math.max(scale, 1e-30);
    }

    /** max |lse − ref| where both −∞ count as equal; LSE laid out {@code [heads, rows]}. */
    public static double maxLseError(ReferenceAttention.Result ref,
                                     LseSource lse) {
        double max = 0;
        for (int h = 0; h < ref.heads(); h++) {
            for (int r = 0; r < ref.rows(); r++) {
                double want = ref.lse(h, r);
                double got = lse.lse(h, r);
                if (want == Double.NEGATIVE_INFINITY && got == Double.NEGATIVE_INFINITY) {
                    continue;
                }
                double e = Math.abs(got - want);
                if (Double.isNaN(e)) {
                    return Double.POSITIVE_INFINITY;
                }
                max = Math.max(max, e);
            }
        }
        return max;
    }

    /** A source of LSE values by (head, row). */
    @FunctionalInterface
    public interface LseSource {
        double lse(int head, int row);
    }
}
