package ringattn.model.linalg;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The vectorised element-wise ops against their scalar formulas in double, for lengths that leave
 * vector tails (1, 7, 33, 256). Tolerances: a few fp32 ulps of the result (2e-6 relative), except
 * silu, whose vector exp is allowed 1e-5 relative (the Vector API's EXP is accurate to about 1 ulp
 * plus the division).
 */
class RowOpsTest {
    private static final int[] LENGTHS = {1, 7, 33, 256};

    private static MemorySegment random(Arena arena, int n, SplittableRandom r, double scale) {
        MemorySegment m = arena.allocate(4L * n, 64);
        for (int i = 0; i < n; i++) {
            m.setAtIndex(Layouts.F32_LE, i, (float) (scale * (r.nextDouble() * 2 - 1)));
        }
        return m;
    }

    private static float at(MemorySegment m, long i) {
        return m.getAtIndex(Layouts.F32_LE, i);
    }

    @Test
    void rmsNorm() {
        SplittableRandom r = new SplittableRandom(1);
        try (Arena arena = Arena.ofConfined()) {
            for (int d : LENGTHS) {
                int rows = 3;
                MemorySegment x = random(arena, rows * d, r, 3);
                MemorySegment out = arena.allocate(4L * rows * d, 64);
                float[] w = new float[d];
                for (int i = 0; i < d; i++) {
                    w[i] = (float) (1 + r.nextGaussian() * 0.1);
                }
                RowOps.rmsNorm(x, out, rows, d, w, 1e-5f);
                for (int t = 0; t < rows; t++) {
                    double ss = 0;
                    for (int i = 0; i < d; i++) {
                        ss += (double) at(x, (long) t * d + i) * at(x, (long) t * d + i);
                    }
                    double inv = 1 / Math.sqrt(ss / d + 1e-5);
                    for (int i = 0; i < d; i++) {
                        double e = at(x, (long) t * d + i) * inv * w[i];
                        assertEquals(e, at(out, (long) t * d + i), 2e-6 * Math.abs(e) + 1e-7, "d=" + d + " [" + t + ", " + i + "]");
                    }
                }
            }
        }
    }

    @Test
    void siluMulAndAdd() {
        SplittableRandom r = new SplittableRandom(2);
        try (Arena arena = Arena.ofConfined()) {
            for (int n : LENGTHS) {
                MemorySegment g = random(arena, n, r, 12);
                MemorySegment u = random(arena, n, r, 2);
                MemorySegment g0 = arena.allocate(4L * n).copyFrom(g);
                RowOps.siluMul(g, u, n);
                for (int i = 0; i < n; i++) {
                    double x = at(g0, i);
                    double e = x / (1 + Math.exp(-x)) * at(u, i);
                    assertEquals(e, at(g, i), 1e-5 * Math.abs(e) + 1e-7, "silu n=" + n + " at " + i);
                }
                MemorySegment a = random(arena, n, r, 1);
                MemorySegment a0 = arena.allocate(4L * n).copyFrom(a);
                RowOps.addInto(a, u, n);
                for (int i = 0; i < n; i++) {
                    assertEquals(at(a0, i) + at(u, i), at(a, i), "add n=" + n + " at " + i);
                }
            }
        }
    }

    @Test
    void rotateHalf() {
        SplittableRandom r = new SplittableRandom(3);
        try (Arena arena = Arena.ofConfined()) {
            for (int half : LENGTHS) {
                MemorySegment x = random(arena, 2 * half + 5, r, 1);
                MemorySegment x0 = arena.allocate(x.byteSize()).copyFrom(x);
                float[] cos = new float[half + 2];
                float[] sin = new float[half + 2];
                for (int i = 0; i < cos.length; i++) {
                    double a = r.nextDouble() * 6;
                    cos[i] = (float) Math.cos(a);
                    sin[i] = (float) Math.sin(a);
                }
                RowOps.rotateHalf(x, 4 * 5, half, cos, sin, 2);
                for (int i = 0; i < half; i++) {
                    double x1 = at(x0, 5 + i);
                    double x2 = at(x0, 5 + half + i);
                    assertEquals(x1 * cos[2 + i] - x2 * sin[2 + i], at(x, 5 + i), 2e-7, "half=" + half + " i=" + i);
                    assertEquals(x2 * cos[2 + i] + x1 * sin[2 + i], at(x, 5 + half + i), 2e-7, "half=" + half + " i=" + i);
                }
                for (int i = 0; i < 5; i++) {
                    assertEquals(at(x0, i), at(x, i), "untouched prefix");
                }
            }
        }
    }
}
