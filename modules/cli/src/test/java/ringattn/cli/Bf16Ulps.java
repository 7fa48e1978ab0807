package ringattn.cli;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/**
 * BF16 results against an fp64 reference, in units in the last place of BF16: a result computed in
 * fp32 and rounded once to BF16 is the reference rounded to BF16, or its neighbour when the
 * reference lies near a rounding boundary. Elements whose absolute error is within the fp32
 * computation's own noise are exempt: near zero BF16's ulp shrinks below that noise. (The cuda
 * module's tests hold the same rule; test code is not shared between modules.) Stateless.
 */
final class Bf16Ulps {
    private Bf16Ulps() {
    }

    private static int ordered(short bits) {
        int magnitude = bits & 0x7FFF;
        return (bits & 0x8000) != 0 ? -magnitude : magnitude;
    }

    /** The distance in BF16 ulps between {@code got} (a BF16 value) and {@code want} rounded to BF16. */
    static int distance(float got, double want) {
        return Math.abs(ordered(DType.floatToBf16(got)) - ordered(DType.floatToBf16((float) want)));
    }

    /** The largest |x| of {@code values}. */
    static double maxAbs(double[] values) {
        double m = 0;
        for (double v : values) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    /**
     * Asserts that every element of {@code got} (BF16) is within one BF16 ulp of {@code want} rounded
     * to BF16, unless its absolute error is at most {@code fp32Noise}.
     */
    static void assertWithinOneUlp(String what, Tensor got, double[] want, double fp32Noise) {
        assertTrue(got.dtype() == DType.BF16, what + " is " + got.dtype() + ", not BF16");
        int worst = 0;
        long at = -1;
        for (long i = 0; i < got.elementCount(); i++) {
            float g = got.getFlat(i);
            double w = want[(int) i];
            assertTrue(!Float.isNaN(g) && !Double.isNaN(w), what + "[" + i + "]: " + g + " against " + w);
            if (Math.abs(g - w) > fp32Noise && distance(g, w) > worst) {
                worst = distance(g, w);
                at = i;
            }
        }
        long i = at;
        assertTrue(worst <= 1, () -> what + "[" + i + "] = " + got.getFlat(i) + " is " + distance(got.getFlat(i), want[(int) i])
                + " BF16 ulps from the reference " + want[(int) i] + " (BF16 " + DType.BF16.round((float) want[(int) i])
                + "; errors up to " + fp32Noise + " exempt)");
    }
}
