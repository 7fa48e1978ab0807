package ringattn.model.linalg;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import ringattn.engine.tensor.DType;

/**
 * Every matmul kernel (scalar, and the Vector API at 128, 256 and 512 bits, forced on any host)
 * against a naive fp64 product, fp32 and bf16 weights, shapes that exercise every edge kernel and
 * tail (n, m, k not multiples of 4, 2 or the lane count).
 */
class MatMulTest {
    private static final int[] NS = {1, 3, 4, 5, 67};
    private static final int[] KS = {1, 7, 16, 33, 256};
    private static final int[] MS = {1, 2, 3, 17, 33};

    /**
     * Tolerance per entry: 1e-6 · Σ|x_i·w_i| + 1e-30 — fp32 accumulation over k terms has error at most
     * about k·2⁻²⁴ relative to Σ|x_i·w_i| (k ≤ 256 gives 1.5e-5 worst case, typically far below); the
     * bound is loose enough for any summation order yet catches any wrong element.
     */
    @ParameterizedTest
    @ValueSource(ints = {-1, 128, 256, 512})
    void kernelsMatchNaiveProduct(int bits) {
        MatMul mm = MatMul.create(bits);
        SplittableRandom rnd = new SplittableRandom(bits + 1000);
        try (Arena arena = Arena.ofShared(); Workers pool = new Workers(2, "test")) {
            for (DType dtype : DType.values()) {
                for (int n : NS) {
                    for (int k : KS) {
                        for (int m : MS) {
                            MemorySegment x = arena.allocate(4L * n * k, 64);
                            MemorySegment w = arena.allocate((long) dtype.byteSize() * m * k, 64);
                            MemorySegment y = arena.allocate(4L * n * m, 64);
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
                            y.fill((byte) 0x7F);
                            mm.multiply(x, n, k, w, dtype, m, y, pool);
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
    void namesItsWidth(int bits) {
        assertTrue(MatMul.create(bits).name().endsWith(Integer.toString(bits)));
    }
}
