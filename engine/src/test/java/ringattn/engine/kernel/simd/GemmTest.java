package ringattn.engine.kernel.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link SimdOps#gemm} of every generated class (each width × register blocking) against a plain
 * fp64 product, over shapes that reach every register block (6-, 4- and 1-row blocks, partial
 * panels, k longer than one L1 chunk), with A row- and column-major and C accumulated or not.
 * Tolerance per element: {@code 4·kd·2^−24 · Σ_k |a||b|} plus the accumulated value's own rounding
 * (fp32 FMA chains of kd terms). And the blocking must not change the result: at one width the 16-
 * and 32-register classes run each element's FMAs in the same k order, so their bits are equal.
 */
class GemmTest {
    static final int[][] SHAPES = {{512, 32}, {256, 32}, {256, 16}, {128, 32}, {128, 16}};

    /** m, kd, panels (n = full panels · W + extra vectors · L). */
    static final int[][] SIZES = {{1, 3, 1, 0}, {5, 17, 1, 0}, {13, 130, 1, 2}, {8, 9, 0, 3}, {200, 64, 2, 0},
        {9, 300, 1, 1}, {24, 128, 3, 0}};

    /** A's layouts: rows contiguous (aCs = 1), column-major (aRs = 1), both strides above 1. */
    static final String[] LAYOUTS = {"rows", "columns", "strided"};

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (int[] shape : SHAPES) {
            for (int[] size : SIZES) {
                for (String layout : LAYOUTS) {
                    for (boolean accumulate : new boolean[] {false, true}) {
                        out.add(Arguments.of(shape[0], shape[1], size[0], size[1], size[2], size[3], layout, accumulate));
                    }
                }
            }
        }
        return out.stream();
    }

    private record Problem(float[] a, int aRs, int aCs, float[] b, int panelStride, float[] c0, int ldc, int n) {
    }

    private static Problem problem(SimdOps ops, int m, int kd, int panels, int extraVectors, String layout, long seed) {
        int w = ops.panel();
        int n = panels * w + extraVectors * ops.lanes();
        Random r = new Random(seed);
        int aOff = 3;
        float[] a = new float[aOff + 2 * m * (2 * kd + 1) + 5];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) r.nextGaussian();
        }
        int panelStride = kd * w + 7; // a stride that is not the panel's size
        int allPanels = (n + w - 1) / w;
        float[] b = new float[allPanels * panelStride + 11];
        for (int i = 0; i < b.length; i++) {
            b[i] = (float) r.nextGaussian();
        }
        int ldc = n + ops.lanes();
        float[] c0 = new float[2 + m * ldc];
        for (int i = 0; i < c0.length; i++) {
            c0[i] = (float) r.nextGaussian();
        }
        return switch (layout) {
            case "rows" -> new Problem(a, kd, 1, b, panelStride, c0, ldc, n);
            case "columns" -> new Problem(a, 1, m, b, panelStride, c0, ldc, n);
            default -> new Problem(a, 2 * kd + 1, 2, b, panelStride, c0, ldc, n);
        };
    }

    private static float[] run(SimdOps ops, Problem p, int m, int kd, boolean accumulate) {
        float[] c = p.c0().clone();
        ops.gemm(accumulate, p.a(), 3, p.aRs(), p.aCs(), m, kd, p.b(), 0, p.panelStride(), c, 2, p.ldc(), p.n());
        return c;
    }

    @ParameterizedTest(name = "{0}-bit {1} registers: m={2} kd={3} panels={4}+{5}v A {6} accumulate={7}")
    @MethodSource("cases")
    void matchesFp64(int bits, int registers, int m, int kd, int panels, int extraVectors, String layout,
                     boolean accumulate) {
        SimdOps ops = SimdOps.forShape(bits, registers);
        assertEquals(registers, ops.registers());
        Problem p = problem(ops, m, kd, panels, extraVectors, layout, 31L * m + kd);
        float[] c = run(ops, p, m, kd, accumulate);
        int w = ops.panel();
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < p.n(); j++) {
                double sum = 0;
                double mag = 0;
                for (int k = 0; k < kd; k++) {
                    double x = p.a()[3 + i * p.aRs() + k * p.aCs()];
                    double y = p.b()[(j / w) * p.panelStride() + k * w + j % w];
                    sum += x * y;
                    mag += Math.abs(x * y);
                }
                double before = p.c0()[2 + i * p.ldc() + j];
                double want = accumulate ? before + sum : sum;
                double tol = 4.0 * (kd + 1) * 0x1p-24 * (mag + (accumulate ? Math.abs(before) : 0)) + 1e-30;
                float got = c[2 + i * p.ldc() + j];
                assertTrue(Math.abs(got - want) <= tol,
                        "C[" + i + "][" + j + "] = " + got + ", fp64 " + want + ", tolerance " + tol);
            }
        }
        // Nothing outside C's columns [0, n) of rows [0, m) is written.
        for (int i = 0; i < c.length; i++) {
            int rel = i - 2;
            boolean inside = rel >= 0 && rel / p.ldc() < m && rel % p.ldc() < p.n();
            if (!inside) {
                assertEquals(p.c0()[i], c[i], "written outside C at " + i);
            }
        }
    }

    @ParameterizedTest(name = "{0}-bit: 16 and 32 registers give the same bits")
    @org.junit.jupiter.params.provider.ValueSource(ints = {128, 256})
    void blockingDoesNotChangeTheBits(int bits) {
        SimdOps r16 = SimdOps.forShape(bits, 16);
        SimdOps r32 = SimdOps.forShape(bits, 32);
        assertTrue(r16.blockVectors() != r32.blockVectors(), "the two classes should block differently");
        for (int[] size : SIZES) {
            for (String layout : LAYOUTS) {
                Problem p = problem(r16, size[0], size[1], size[2], size[3], layout, 7L * size[0] + size[1]);
                float[] x = run(r16, p, size[0], size[1], true);
                float[] y = run(r32, p, size[0], size[1], true);
                for (int i = 0; i < x.length; i++) {
                    assertEquals(Float.floatToRawIntBits(y[i]), Float.floatToRawIntBits(x[i]),
                            "element " + i + " of " + java.util.Arrays.toString(size));
                }
            }
        }
    }
}
