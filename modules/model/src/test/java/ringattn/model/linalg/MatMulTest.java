package ringattn.model.linalg;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import ringattn.engine.concurrent.WorkerPool;
import ringattn.engine.tensor.DType;

/**
 * Every matmul kernel (scalar, and the engine's Vector API GEMM at 128, 256 and 512 bits with 16 and
 * 32 registers' blocking, forced on any host) against a naive fp64 product, fp32 and bf16 weights,
 * shapes that exercise every register block and tail (n, m, k not multiples of 6, 4 or the lane
 * count; m past one and several panels; k past one block), and nothing written outside y.
 */
class MatMulTest {
    private static final int[] NS = {1, 3, 4, 5, 67};
    private static final int[] KS = {1, 7, 16, 33, 256, MatMul.K_BLOCK + 45};
    private static final int[] MS = {1, 2, 3, 17, 33, 130};

    static java.util.stream.Stream<org.junit.jupiter.params.provider.Arguments> kernels() {
        return java.util.stream.Stream.of(new int[] {-1, 0}, new int[] {128, 16}, new int[] {128, 32}, new int[] {256, 16},
                new int[] {256, 32}, new int[] {512, 32}).map(s -> org.junit.jupiter.params.provider.Arguments.of(s[0], s[1]));
    }

    /**
     * Tolerance per entry: 1e-6 · Σ|x_i·w_i| + 1e-30 — fp32 accumulation over k terms has error at most
     * about k·2⁻²⁴ relative to Σ|x_i·w_i| (k ≤ 256 gives 1.5e-5 worst case, typically far below); the
     * bound is loose enough for any summation order yet catches any wrong element.
     */
    @ParameterizedTest(name = "bits {0}, registers {1}")
    @org.junit.jupiter.params.provider.MethodSource("kernels")
    void kernelsMatchNaiveProduct(int bits, int registers) {
        MatMul mm = MatMul.create(bits, registers);
        SplittableRandom rnd = new SplittableRandom(bits + 1000 + registers);
        try (Arena arena = Arena.ofShared(); WorkerPool pool = new WorkerPool(2, "test")) {
            for (DType dtype : DType.values()) {
                for (int n : NS) {
                    for (int k : KS) {
                        for (int m : MS) {
                            MemorySegment x = arena.allocate(4L * n * k, 64);
                            MemorySegment w = arena.allocate((long) dtype.byteSize() * m * k, 64);
                            MemorySegment yAll = arena.allocate(4L * n * m + 64, 64);
                            MemorySegment y = yAll.asSlice(32, 4L * n * m);
                            for (long i = 0; i < (long) n * k; i++) {
                                x.setAtIndex(Layouts.F32_LE, i, (float) rnd.nextGaussian());
                            }
                            for (long i = 0; i < (long) m * k; i++) {
                                float v = (float) rnd.nextGaussian();
                                if (dtype == DType.F32) {
                                    w.setAtIndex(Layouts.F32_LE, i, v);
                                } else {
                                    w.setAtIndex(Layouts.BF16_LE, i, DType.floatToBf16(v));
                                }
                            }
                            yAll.fill((byte) 0x7F);
                            mm.multiply(x, n, k, w, dtype, m, y, pool);
                            for (long b = 0; b < 32; b++) {
                                assertEquals((byte) 0x7F, yAll.get(java.lang.foreign.ValueLayout.JAVA_BYTE, b), "written before y");
                                assertEquals((byte) 0x7F, yAll.get(java.lang.foreign.ValueLayout.JAVA_BYTE, yAll.byteSize() - 1 - b),
                                        "written after y");
                            }
                            for (int t = 0; t < n; t++) {
                                for (int o = 0; o < m; o++) {
                                    double s = 0;
                                    double abs = 0;
                                    for (int i = 0; i < k; i++) {
                                        double wi = dtype == DType.F32 ? w.getAtIndex(Layouts.F32_LE, (long) o * k + i)
                                                : DType.bf16ToFloat(w.getAtIndex(Layouts.BF16_LE, (long) o * k + i));
                                        double p = x.getAtIndex(Layouts.F32_LE, (long) t * k + i) * wi;
                                        s += p;
                                        abs += Math.abs(p);
                                    }
                                    float got = y.getAtIndex(Layouts.F32_LE, (long) t * m + o);
                                    assertEquals(s, got, 1e-6 * abs + 1e-30, mm.name() + " " + dtype + " n=" + n + " k=" + k
                                            + " m=" + m + " at [" + t + ", " + o + "]");
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {128, 256, 512})
    void namesItsWidthAndRegisters(int bits) {
        assertTrue(MatMul.create(bits).name().startsWith("panama-" + bits + "r"), MatMul.create(bits).name());
        if (bits != 512) {
            assertEquals("panama-" + bits + "r16", MatMul.create(bits, 16).name());
        }
        assertEquals("panama-" + bits + "r32", MatMul.create(bits, 32).name());
    }

    /** More token rows than one chunk of x: the chunks must join seamlessly (checked on a sample of rows). */
    @org.junit.jupiter.api.Test
    void rowsBeyondOneChunk() {
        int n = MatMul.CHUNK_ROWS + 37;
        int k = 9;
        int m = 70;
        MatMul mm = MatMul.create(256, 16);
        SplittableRandom rnd = new SplittableRandom(5);
        try (Arena arena = Arena.ofShared(); WorkerPool pool = new WorkerPool(2, "test")) {
            MemorySegment x = arena.allocate(4L * n * k, 64);
            MemorySegment w = arena.allocate(4L * m * k, 64);
            MemorySegment y = arena.allocate(4L * n * m, 64);
            for (long i = 0; i < (long) n * k; i++) {
                x.setAtIndex(Layouts.F32_LE, i, (float) rnd.nextGaussian());
            }
            for (long i = 0; i < (long) m * k; i++) {
                w.setAtIndex(Layouts.F32_LE, i, (float) rnd.nextGaussian());
            }
            mm.multiply(x, n, k, w, DType.F32, m, y, pool);
            for (int t : new int[] {0, MatMul.CHUNK_ROWS - 1, MatMul.CHUNK_ROWS, n - 1}) {
                for (int o = 0; o < m; o++) {
                    double s = 0;
                    double abs = 0;
                    for (int i = 0; i < k; i++) {
                        double p = (double) x.getAtIndex(Layouts.F32_LE, (long) t * k + i) * w.getAtIndex(Layouts.F32_LE, (long) o * k + i);
                        s += p;
                        abs += Math.abs(p);
                    }
                    assertEquals(s, y.getAtIndex(Layouts.F32_LE, (long) t * m + o), 1e-6 * abs + 1e-30, "at [" + t + ", " + o + "]");
                }
            }
        }
    }

    @org.junit.jupiter.api.Test
    void badArgumentsAreNamed() {
        MatMul mm = MatMul.create(256, 16);
        try (Arena arena = Arena.ofShared(); WorkerPool pool = new WorkerPool(1, "test")) {
            MemorySegment small = arena.allocate(16, 64);
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> mm.multiply(small, 4, 4, small, DType.F32, 4, small, pool));
            assertTrue(e.getMessage().startsWith("matmul: segments too small"), e.getMessage());
            e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> MatMul.create(64));
            assertTrue(e.getMessage().startsWith("simd bits"), e.getMessage());
            e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> MatMul.create(256, 8));
            assertTrue(e.getMessage().startsWith("registers"), e.getMessage());
        }
    }
}
