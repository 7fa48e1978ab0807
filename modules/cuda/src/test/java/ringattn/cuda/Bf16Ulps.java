package ringattn.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/**
 * BF16 results against an fp64 reference, in units in the last place of BF16: a result computed in
 * fp32 and rounded once to BF16 lies within one ulp of the reference rounded to BF16 (the same value,
 * or its neighbour when the reference sits near a rounding boundary). Values whose absolute error is
 * within the fp32 computation's own noise are exempt: near zero BF16's ulp shrinks below that noise,
 * so any count of ulps there says nothing about the rounding. Stateless.
 */
final class Bf16Ulps {
    private Bf16Ulps() {
    }

    /** BF16 bits as an integer that orders like the values (±0 both 0). */
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
     * Asserts that every element of {@code got} (BF16 values, held in any dtype) is within one BF16 ulp
     * of {@code want} rounded to BF16, unless its absolute error is at most {@code fp32Noise}.
     */
    static void assertWithinOneUlp(String what, Tensor got, double[] want, double fp32Noise) {
        int worst = 0;
        long at = -1;
        for (long i = 0; i < got.elementCount(); i++) {
            float g = got.getFlat(i);
            double w = want[(int) i];
            assertTrue(DType.BF16.round(g) == g || Float.isNaN(g), what + "[" + i + "] = " + g + " is not a BF16 value");
            if (Float.isNaN(g) || Double.isNaN(w)) {
                throw new AssertionError(what + "[" + i + "]: " + g + " against " + w);
            }
            if (Math.abs(g - w) <= fp32Noise) {
                continue;
            }
            int d = distance(g, w);
            if (d > worst) {
                worst = d;
                at = i;
            }
        }
        System.out.println(what + ": at most " + worst + " BF16 ulp from the reference rounded to BF16"
                + " (errors up to " + fp32Noise + " exempt)");
        long i = at;
        assertTrue(worst <= 1, () -> what + "[" + i + "] = " + got.getFlat(i) + " is " + distance(got.getFlat(i), want[(int) i])
                + " BF16 ulps from the reference " + want[(int) i] + " (BF16 " + DType.BF16.round((float) want[(int) i]) + ")");
    }
}
