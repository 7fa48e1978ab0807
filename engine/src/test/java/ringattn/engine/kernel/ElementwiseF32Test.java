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
 * vectors (body and tail), slices not aligned to a vector, and special values (NaN, ±∞, −0, subnormals); and that
 * the Vector API code is the one running wherever the module is present.
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
}
