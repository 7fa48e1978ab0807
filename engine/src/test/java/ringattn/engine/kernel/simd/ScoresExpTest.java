package ringattn.engine.kernel.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The forward's lazy softmax step ({@link SimdOps#scoresExp}) on scores in units: its exps
 * against fp64 {@code 2^((s − ref)/L)} of the same fp32 scores (computed by {@link SimdOps#gemm},
 * which gives the same bits as the fused pass), its column sums, the integer reference it takes for
 * columns that have seen no key, and the cases it must hand to the exact path. Tolerance: 2 ulp per
 * probability, as for {@code expUnits} (the reduction is exact; ExpTest), and 2e−5 relative for the
 * fp32 sums of up to 200 of them (each addition rounds by up to 2^−24).
 */
class ScoresExpTest {
    /** A: m × kd row-major; B: kd × n in panels; returns fp32 scores with ops.gemm. */
    private static float[] scores(SimdOps ops, float[] a, int m, int kd, float[] b, int n) {
        float[] c = new float[m * n];
        ops.gemm(false, a, 0, kd, 1, m, kd, b, 0, kd * ops.panel(), c, 0, n, n);
        return c;
    }

    private static float[] random(Random r, int n, float sigma) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (r.nextGaussian() * sigma);
        }
        return x;
    }

    @ParameterizedTest
    @CsvSource({"512,32,200,64", "512,32,7,64", "512,32,130,160", "256,32,61,48", "128,32,25,80",
            "256,16,200,64", "256,16,7,64", "256,16,130,160", "256,16,61,48", "128,16,25,80"})
    void probabilitiesAndSumsAgainstFp64(int bits, int registers, int m, int kd) {
        SimdOps ops = SimdOps.forShape(bits, registers);
        int n = 2 * ops.panel();
        int lanes = ops.lanes();
        Random r = new Random(bits * 1000L + m);
        float[] a = random(r, m * kd, 1f);
        float[] b = random(r, kd * n, 3f * ops.unitsPerNat() / (float) Math.sqrt(kd)); // scores of σ ≈ 3 natural units
        float[] s = scores(ops, a, m, kd, b, n);
        float[] ref = new float[n];
        for (int j = 0; j < n; j++) {
            float max = Float.NEGATIVE_INFINITY;
            for (int i = 0; i < m; i++) {
                max = Math.max(max, s[i * n + j]);
            }
            // An integer reference up to a few units off the column max, either way.
            ref[j] = j % 5 == 0 ? Float.NEGATIVE_INFINITY : Math.round(max) + (j % 7) - 3;
        }
        float[] refIn = ref.clone();
        float[] c = new float[m * n];
        float[] sum = new float[n];
        assertTrue(ops.scoresExp(a, 0, kd, m, kd, b, 0, kd * ops.panel(), c, 0, n, n, ref, 0, sum, 0));
        for (int j = 0; j < n; j++) {
            if (refIn[j] == Float.NEGATIVE_INFINITY) { // the max of the first register block, rounded
                assertEquals(ref[j], Math.rint(ref[j]), "integer reference, column " + j);
                assertTrue(ref[j] > Float.NEGATIVE_INFINITY, "reference taken, column " + j);
            } else {
                assertEquals(refIn[j], ref[j], "reference kept, column " + j);
            }
            double total = 0;
            for (int i = 0; i < m; i++) {
                double want = Math.pow(2.0, ((double) s[i * n + j] - ref[j]) / lanes);
                float got = c[i * n + j];
                assertTrue(Math.abs(got - want) <= 2 * Math.ulp((float) want),
                        "p[" + i + "][" + j + "] = " + got + ", fp64 " + want);
                total += want;
            }
            assertEquals(total, sum[j], 2e-5 * total, "sum of column " + j);
        }
    }

    /** References that are not exact integers below 2^21, and scores far above them, go to the exact path. */
    @ParameterizedTest
    @CsvSource({"512,32", "256,32", "256,16", "128,32", "128,16"})
    void handsTheTileToTheExactPath(int bits, int registers) {
        SimdOps ops = SimdOps.forShape(bits, registers);
        int n = ops.panel();
        int kd = 8;
        int m = 6;
        Random r = new Random(bits);
        float[] a = random(r, m * kd, 1f);
        float[] b = random(r, kd * n, 1f);
        float limit = 16f * ops.unitsPerNat();
        float above = -(float) Math.ceil(limit) - 40f; // an integer reference that every score exceeds by more than the limit
        float[][] refs = {{0x1p21f}, {Float.NaN}, {-3e7f}, {above}};
        for (float[] one : refs) {
            float[] ref = new float[n];
            java.util.Arrays.fill(ref, one[0]);
            ref[n - 1] = 0f; // one ordinary column does not save the tile
            assertFalse(ops.scoresExp(a, 0, kd, m, kd, b, 0, kd * n, new float[m * n], 0, n, n, ref, 0, new float[n], 0),
                    "reference " + one[0]);
        }
        float[] inRange = new float[n]; // 0: scores of a few units stay within the limit
        assertTrue(ops.scoresExp(a, 0, kd, m, kd, b, 0, kd * n, new float[m * n], 0, n, n, inRange, 0, new float[n], 0));
    }
}
