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

    /**
     * {@code x} rounded once to the nearest bfloat16 (ties to even), as a float. Not {@code (float) x}
     * then BF16: that rounds twice and can land on the wrong side of a BF16 tie.
     */
    public static float roundToBf16(double x) {
        float f = (float) x;
        if (Float.isNaN(f) || Float.isInfinite(f)) {
            return f;
        }
        int bits = Float.floatToRawIntBits(f) & 0xFFFF0000; // toward zero: |down| <= |x| up to float rounding
        float down = Float.intBitsToFloat(bits);
        float up = Float.intBitsToFloat(bits + 0x10000); // the next BF16 away from zero
        double toDown = Math.abs(x - down);
        double toUp = Math.abs(x - up);
        if (toDown != toUp) {
            return toDown < toUp ? down : up;
        }
        return (bits & 0x10000) == 0 ? down : up;
    }

    /**
     * Distance in BF16 units in the last place between two BF16 values (given as floats): how many
     * BF16 values lie between them, plus one; 0 when equal (+0 and −0 are equal).
     */
    public static int bf16Ulps(float a, float b) {
        if (Float.isNaN(a) || Float.isNaN(b)) {
            return Float.isNaN(a) && Float.isNaN(b) ? 0 : Integer.MAX_VALUE;
        }
        return Math.abs(bf16Order(a) - bf16Order(b));
    }

    /** BF16 values in order as integers: the sign-magnitude bits made two's complement. */
    private static int bf16Order(float x) {
        int bits = Float.floatToRawIntBits(x);
        if ((bits & 0xFFFF) != 0) {
            throw new IllegalArgumentException("x: " + x + " is not a BF16 value");
        }
        int magnitude = (bits >>> 16) & 0x7FFF;
        return bits < 0 ? -magnitude : magnitude;
    }

    /**
     * A BF16 tensor against the fp64 reference rounded to BF16.
     *
     * @param maxUlps  the largest distance in BF16 ulps (Integer.MAX_VALUE for a NaN on one side)
     * @param differ   how many elements are not exactly the rounded reference
     * @param elements how many elements were compared
     */
    public record Bf16Comparison(int maxUlps, long differ, long elements) {
    }

    /** Compares every element of a BF16 tensor with the reference rounded to BF16, in ulps. */
    public static Bf16Comparison compareBf16(Tensor got, double[] ref) {
        if (got.dtype() != DType.BF16) {
            throw new IllegalArgumentException("got: expected a BF16 tensor, got " + got.dtype());
        }
        int max = 0;
        long differ = 0;
        for (long i = 0; i < got.elementCount(); i++) {
            int ulps = bf16Ulps(got.getFlat(i), roundToBf16(ref[(int) i]));
            max = Math.max(max, ulps);
            differ += ulps != 0 ? 1 : 0;
        }
        return new Bf16Comparison(max, differ, got.elementCount());
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
