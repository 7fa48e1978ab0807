package ringattn.engine.kernel.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.function.DoubleUnaryOperator;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The kernels' vector exp against {@code Math.exp} (fp64), at every width. Tolerances: the
 * reduction rounds x·L·log2(e) once, which adds up to |x|·2^−24 relative, the table entry and the
 * final product round once each and the polynomial is within 1e−8 — measured 4.79 ulp on
 * [−16, 0] and 18.5 on [−80, −16]; the bounds below leave a small margin.
 */
class ExpTest {
    /** An exp of the kernels, in place on {@code x[0, lanes)}. */
    private interface VectorExp {
        void apply(float[] x);
    }

    /** The largest error in ulp of {@code exp} against {@code exact} on {@code steps·lanes + lanes} points of [from, to]. */
    private static double worstUlp(int lanes, VectorExp exp, DoubleUnaryOperator exact, float from, float to, int steps) {
        float[] x = new float[lanes];
        double worst = 0;
        for (int i = 0; i <= steps; i++) {
            for (int k = 0; k < lanes; k++) {
                x[k] = from + (to - from) * (float) (i * lanes + k) / (float) (steps * lanes + lanes - 1);
            }
            float[] y = x.clone();
            exp.apply(y);
            for (int k = 0; k < lanes; k++) {
                double e = exact.applyAsDouble(x[k]);
                worst = Math.max(worst, Math.abs(y[k] - e) / Math.ulp((float) e));
            }
        }
        return worst;
    }

    private static double worstUlp(SimdOps ops, float from, float to, int steps) {
        return worstUlp(ops.lanes(), y -> ops.exp(y, 0, ops.lanes()), Math::exp, from, to, steps);
    }

    @ParameterizedTest
    @ValueSource(ints = {128, 256, 512})
    void withinFiveUlpNearZeroAndTwentyBelow(int bits) {
        SimdOps ops = SimdOps.forShape(bits, 32);
        double near = worstUlp(ops, -16f, 0f, 200_000 / ops.lanes());
        double far = worstUlp(ops, -80f, -16f, 200_000 / ops.lanes());
        assertTrue(near <= 5.0, "ulp on [-16, 0]: " + near);
        assertTrue(far <= 20, "ulp on [-80, -16]: " + far);
    }

    /**
     * The forward's exp on units, {@code 2^(x/L)}, against {@code StrictMath.pow} (fp64). Its
     * reduction is exact, so only the polynomial (≤ 1e−8), the table entry and the last product
     * (½ ulp each) and the Horner steps remain: measured 1.54, 1.54 and 1.57 ulp at 128, 256 and
     * 512 bits over the range of natural exponents [−80, 0]; the bound leaves a margin.
     */
    @ParameterizedTest
    @ValueSource(ints = {128, 256, 512})
    void unitsExpWithinTwoUlp(int bits) {
        SimdOps ops = SimdOps.forShape(bits, 32);
        int lanes = ops.lanes();
        double worst = worstUlp(lanes, y -> ops.expUnits(y, 0, lanes), x -> StrictMath.pow(2.0, x / lanes),
                -80f * ops.unitsPerNat(), 0f, 400_000 / lanes);
        assertTrue(worst <= 2.0, "ulp of 2^(x/L) on [-80, 0] natural: " + worst);
    }

    @ParameterizedTest
    @ValueSource(ints = {128, 256, 512})
    void unitsExpSpecialValues(int bits) {
        SimdOps ops = SimdOps.forShape(bits, 32);
        int lanes = ops.lanes();
        float u = ops.unitsPerNat();
        float[] in = {0f, -0f, Float.NEGATIVE_INFINITY, -87.5f * u, -1e30f, Float.NaN,
            Float.intBitsToFloat(0xFFFFFFFF), 100f * u, 1e30f, Float.POSITIVE_INFINITY, lanes, -lanes};
        float[] want = {1f, 1f, 0f, 0f, 0f, Float.NaN, Float.NaN, Float.POSITIVE_INFINITY, Float.POSITIVE_INFINITY,
            Float.POSITIVE_INFINITY, 2f, 0.5f};
        assertExactly(lanes, y -> ops.expUnits(y, 0, lanes), in, want, "2^(x/L)");
    }

    @ParameterizedTest
    @ValueSource(ints = {128, 256, 512})
    void specialValues(int bits) {
        SimdOps ops = SimdOps.forShape(bits, 32);
        int lanes = ops.lanes();
        // NaNs with payloads too: the result's exponent bits are never built from the input's bits.
        float[] in = {0f, -0f, Float.NEGATIVE_INFINITY, -87.5f, -1000f, Float.NaN, Float.intBitsToFloat(0x7FC01234),
            Float.intBitsToFloat(0xFFFFFFFF), 100f, Float.POSITIVE_INFINITY};
        float[] want = {1f, 1f, 0f, 0f, 0f, Float.NaN, Float.NaN, Float.NaN, Float.POSITIVE_INFINITY,
            Float.POSITIVE_INFINITY};
        assertExactly(lanes, y -> ops.exp(y, 0, lanes), in, want, "exp(x)");
    }

    /** {@code exp} of each {@code in[i]} in every lane is exactly {@code want[i]} (exact: alpha == 1 skips a rescale). */
    private static void assertExactly(int lanes, VectorExp exp, float[] in, float[] want, String name) {
        for (int i = 0; i < in.length; i++) {
            float[] x = new float[lanes];
            java.util.Arrays.fill(x, in[i]);
            exp.apply(x);
            for (int k = 0; k < lanes; k++) {
                assertEquals(want[i], x[k], name + " at x = " + in[i]);
            }
        }
    }
}
