package ringattn.engine.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link ElementwiseF32#addInto} against Java's own float add, bit for bit: every length up to a few
 * vectors (body and tail), slices not aligned to a vector, and special values (NaN, ±∞, −0, subnormals);
 * {@link ElementwiseF32#expSum} against fp64 {@code Math.exp} (every length up to a few vectors, the
 * elements past {@code n} untouched, −∞ → 0, NaN stays NaN); and that the Vector API code is the one
 * running wherever the module is present.
 */
class ElementwiseF32Test {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT;
    private static final float[] SPECIAL = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, -0f, 0f,
            Float.MIN_VALUE, -Float.MIN_NORMAL / 3, Float.MAX_VALUE, 1e-40f};

    @Test
    void addsEveryElementLikeJavaFloatAdd() {
        Random r = new Random(7);
        try (Arena arena = Arena.ofConfined()) {
            for (int n = 0; n <= 70; n++) {
                for (int offset : new int[] {0, 4, 12}) {
                    check(arena, r, n, offset);
                }
            }
            check(arena, r, 1027, 8);
        }
    }

    private static void check(Arena arena, Random r, int n, int offsetBytes) {
        MemorySegment dst = arena.allocate(4L * n + offsetBytes, 64).asSlice(offsetBytes);
        MemorySegment src = arena.allocate(4L * n + offsetBytes, 64).asSlice(offsetBytes);
        float[] expected = new float[n];
        for (int i = 0; i < n; i++) {
            float a = i % 11 == 5 ? SPECIAL[r.nextInt(SPECIAL.length)] : (float) r.nextGaussian();
            float b = i % 13 == 7 ? SPECIAL[r.nextInt(SPECIAL.length)] : (float) r.nextGaussian() * 1e3f;
            dst.setAtIndex(F32, i, a);
            src.setAtIndex(F32, i, b);
            expected[i] = a + b;
        }
        ElementwiseF32.addInto(dst, src);
        for (int i = 0; i < n; i++) {
            assertEquals(Float.floatToIntBits(expected[i]), Float.floatToIntBits(dst.getAtIndex(F32, i)),
                    "n=" + n + " offset=" + offsetBytes + " element " + i);
        }
    }

    @Test
    void usesTheVectorApiWhenItsModuleIsPresent() {
        boolean present = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
        String impl = ElementwiseF32.implementation();
        assertTrue(present ? impl.startsWith("Vector API, ") && impl.endsWith("-bit vectors") : impl.startsWith("scalar ("),
                impl);
    }

    @Test
    void mismatchedSizesAreRejectedNamingTheArgument() {
        try (Arena arena = Arena.ofConfined()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ElementwiseF32.addInto(arena.allocate(8), arena.allocate(12)));
            assertEquals("dst: 8 bytes, src has 12", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> ElementwiseF32.addInto(arena.allocate(6), arena.allocate(6)));
            assertTrue(e.getMessage().startsWith("src: 6 bytes"), e.getMessage());
        }
    }

    /**
     * e^(x − shift) within 8 ulp of fp64 {@code Math.exp} for arguments in [−16, 0] (the kernels' exp:
     * ≤ 5 ulp measured there), 2e-5 relative for the sum (fp32 sums of ≤ 1027 terms of size ≤ 1);
     * elements past n keep their values.
     */
    @Test
    void expSumMatchesFp64Exp() {
        Random r = new Random(11);
        for (int n : new int[] {0, 1, 3, 7, 8, 15, 16, 17, 31, 33, 64, 65, 1027}) {
            float[] x = new float[n + 5];
            double[] want = new double[n];
            float shift = 2.5f;
            double sum = 0;
            for (int i = 0; i < x.length; i++) {
                x[i] = shift - 16f * r.nextFloat();
                if (i < n) {
                    want[i] = Math.exp((double) x[i] - shift);
                    sum += (float) want[i];
                }
            }
            float[] tail = java.util.Arrays.copyOfRange(x, n, x.length);
            float got = ElementwiseF32.expSum(x, n, shift);
            for (int i = 0; i < n; i++) {
                double ulp = Math.ulp((float) want[i]);
                assertTrue(Math.abs(x[i] - want[i]) <= 8 * ulp, "n=" + n + " element " + i + ": " + x[i] + " vs " + want[i]);
            }
            assertTrue(Math.abs(got - sum) <= 2e-5 * Math.max(1, sum), "n=" + n + ": sum " + got + " vs " + sum);
            assertEquals(java.util.Arrays.toString(tail), java.util.Arrays.toString(java.util.Arrays.copyOfRange(x, n, x.length)),
                    "elements past n must be untouched");
        }
    }

    @Test
    void expSumSpecialValuesAndBadLength() {
        float[] x = {Float.NEGATIVE_INFINITY, 0f, Float.NaN, -200f};
        float sum = ElementwiseF32.expSum(x, 4, 0f);
        assertEquals(0f, x[0]);
        assertEquals(1f, x[1]);
        assertTrue(Float.isNaN(x[2]));
        assertEquals(0f, x[3]);
        assertTrue(Float.isNaN(sum));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ElementwiseF32.expSum(new float[3], 4, 0f));
        assertTrue(e.getMessage().startsWith("n: "), e.getMessage());
    }
}
