package ringattn.engine.kernel.simd;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Transposes 16 × 16 blocks of floats in registers with two-source lane permutes
 * ({@code selectFrom(a, b)}, one {@code vpermi2ps} each): four stages, in which rows 8, 4, 2 and
 * then 1 apart swap blocks of as many lanes; 64 permutes per block. {@code toRowPanels} of the 512-bit classes
 * uses it for whole 16-column blocks instead of one gather per column (README, "Design choices,
 * measured"). Stateless; thread-safe.
 */
final class Transpose16 {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_512;
    private static final int L = 16;
    /** Lane sources (0-15: first operand, 16-31: second) of the low and high result of stage s. */
    private static final float[] LO0 = indices(8, false);
    private static final float[] HI0 = indices(8, true);
    private static final float[] LO1 = indices(4, false);
    private static final float[] HI1 = indices(4, true);
    private static final float[] LO2 = indices(2, false);
    private static final float[] HI2 = indices(2, true);
    private static final float[] LO3 = indices(1, false);
    private static final float[] HI3 = indices(1, true);

    private Transpose16() {
    }

    /**
     * For rows {a, b} {@code blk} apart: the low result takes, in each group of {@code 2·blk} lanes,
     * the group's first {@code blk} lanes of a, then those of b; the high result the group's
     * second {@code blk} lanes of each.
     */
    private static float[] indices(int blk, boolean high) {
        float[] ix = new float[L];
        for (int l = 0; l < L; l++) {
            int g = l / (2 * blk) * 2 * blk;
            int w = l % (2 * blk);
            int from = high ? g + blk : g;
            ix[l] = w < blk ? from + w : L + from + w - blk;
        }
        return ix;
    }

    /**
     * The 16 × 16 block at {@code src[in + i·ld + j]} transposed to {@code dst[out + j·ldOut + i]}.
     */
    static void block(float[] src, int in, int ld, float[] dst, int out, int ldOut) {
        FloatVector lo0 = FloatVector.fromArray(F, LO0, 0);
        FloatVector hi0 = FloatVector.fromArray(F, HI0, 0);
        FloatVector lo1 = FloatVector.fromArray(F, LO1, 0);
        FloatVector hi1 = FloatVector.fromArray(F, HI1, 0);
        FloatVector lo2 = FloatVector.fromArray(F, LO2, 0);
        FloatVector hi2 = FloatVector.fromArray(F, HI2, 0);
        FloatVector lo3 = FloatVector.fromArray(F, LO3, 0);
        FloatVector hi3 = FloatVector.fromArray(F, HI3, 0);
        FloatVector r0 = FloatVector.fromArray(F, src, in);
        FloatVector r1 = FloatVector.fromArray(F, src, in + 1 * ld);
        FloatVector r2 = FloatVector.fromArray(F, src, in + 2 * ld);
        FloatVector r3 = FloatVector.fromArray(F, src, in + 3 * ld);
        FloatVector r4 = FloatVector.fromArray(F, src, in + 4 * ld);
        FloatVector r5 = FloatVector.fromArray(F, src, in + 5 * ld);
        FloatVector r6 = FloatVector.fromArray(F, src, in + 6 * ld);
        FloatVector r7 = FloatVector.fromArray(F, src, in + 7 * ld);
        FloatVector r8 = FloatVector.fromArray(F, src, in + 8 * ld);
        FloatVector r9 = FloatVector.fromArray(F, src, in + 9 * ld);
        FloatVector r10 = FloatVector.fromArray(F, src, in + 10 * ld);
        FloatVector r11 = FloatVector.fromArray(F, src, in + 11 * ld);
        FloatVector r12 = FloatVector.fromArray(F, src, in + 12 * ld);
        FloatVector r13 = FloatVector.fromArray(F, src, in + 13 * ld);
        FloatVector r14 = FloatVector.fromArray(F, src, in + 14 * ld);
        FloatVector r15 = FloatVector.fromArray(F, src, in + 15 * ld);
        // rows 8 apart: blocks of 8 lanes
        FloatVector a0 = lo0.selectFrom(r0, r8);
        FloatVector a8 = hi0.selectFrom(r0, r8);
        FloatVector a1 = lo0.selectFrom(r1, r9);
        FloatVector a9 = hi0.selectFrom(r1, r9);
        FloatVector a2 = lo0.selectFrom(r2, r10);
        FloatVector a10 = hi0.selectFrom(r2, r10);
        FloatVector a3 = lo0.selectFrom(r3, r11);
        FloatVector a11 = hi0.selectFrom(r3, r11);
        FloatVector a4 = lo0.selectFrom(r4, r12);
        FloatVector a12 = hi0.selectFrom(r4, r12);
        FloatVector a5 = lo0.selectFrom(r5, r13);
        FloatVector a13 = hi0.selectFrom(r5, r13);
        FloatVector a6 = lo0.selectFrom(r6, r14);
        FloatVector a14 = hi0.selectFrom(r6, r14);
        FloatVector a7 = lo0.selectFrom(r7, r15);
        FloatVector a15 = hi0.selectFrom(r7, r15);
        // rows 4 apart: blocks of 4 lanes
        FloatVector b0 = lo1.selectFrom(a0, a4);
        FloatVector b4 = hi1.selectFrom(a0, a4);
        FloatVector b1 = lo1.selectFrom(a1, a5);
        FloatVector b5 = hi1.selectFrom(a1, a5);
        FloatVector b2 = lo1.selectFrom(a2, a6);
        FloatVector b6 = hi1.selectFrom(a2, a6);
        FloatVector b3 = lo1.selectFrom(a3, a7);
        FloatVector b7 = hi1.selectFrom(a3, a7);
        FloatVector b8 = lo1.selectFrom(a8, a12);
        FloatVector b12 = hi1.selectFrom(a8, a12);
        FloatVector b9 = lo1.selectFrom(a9, a13);
        FloatVector b13 = hi1.selectFrom(a9, a13);
        FloatVector b10 = lo1.selectFrom(a10, a14);
        FloatVector b14 = hi1.selectFrom(a10, a14);
        FloatVector b11 = lo1.selectFrom(a11, a15);
        FloatVector b15 = hi1.selectFrom(a11, a15);
        // rows 2 apart: blocks of 2 lanes
        FloatVector c0 = lo2.selectFrom(b0, b2);
        FloatVector c2 = hi2.selectFrom(b0, b2);
        FloatVector c1 = lo2.selectFrom(b1, b3);
        FloatVector c3 = hi2.selectFrom(b1, b3);
        FloatVector c4 = lo2.selectFrom(b4, b6);
        FloatVector c6 = hi2.selectFrom(b4, b6);
        FloatVector c5 = lo2.selectFrom(b5, b7);
        FloatVector c7 = hi2.selectFrom(b5, b7);
        FloatVector c8 = lo2.selectFrom(b8, b10);
        FloatVector c10 = hi2.selectFrom(b8, b10);
        FloatVector c9 = lo2.selectFrom(b9, b11);
        FloatVector c11 = hi2.selectFrom(b9, b11);
        FloatVector c12 = lo2.selectFrom(b12, b14);
        FloatVector c14 = hi2.selectFrom(b12, b14);
        FloatVector c13 = lo2.selectFrom(b13, b15);
        FloatVector c15 = hi2.selectFrom(b13, b15);
        // rows 1 apart: blocks of 1 lanes
        FloatVector d0 = lo3.selectFrom(c0, c1);
        FloatVector d1 = hi3.selectFrom(c0, c1);
        FloatVector d2 = lo3.selectFrom(c2, c3);
        FloatVector d3 = hi3.selectFrom(c2, c3);
        FloatVector d4 = lo3.selectFrom(c4, c5);
        FloatVector d5 = hi3.selectFrom(c4, c5);
        FloatVector d6 = lo3.selectFrom(c6, c7);
        FloatVector d7 = hi3.selectFrom(c6, c7);
        FloatVector d8 = lo3.selectFrom(c8, c9);
        FloatVector d9 = hi3.selectFrom(c8, c9);
        FloatVector d10 = lo3.selectFrom(c10, c11);
        FloatVector d11 = hi3.selectFrom(c10, c11);
        FloatVector d12 = lo3.selectFrom(c12, c13);
        FloatVector d13 = hi3.selectFrom(c12, c13);
        FloatVector d14 = lo3.selectFrom(c14, c15);
        FloatVector d15 = hi3.selectFrom(c14, c15);
        d0.intoArray(dst, out);
        d1.intoArray(dst, out + 1 * ldOut);
        d2.intoArray(dst, out + 2 * ldOut);
        d3.intoArray(dst, out + 3 * ldOut);
        d4.intoArray(dst, out + 4 * ldOut);
        d5.intoArray(dst, out + 5 * ldOut);
        d6.intoArray(dst, out + 6 * ldOut);
        d7.intoArray(dst, out + 7 * ldOut);
        d8.intoArray(dst, out + 8 * ldOut);
        d9.intoArray(dst, out + 9 * ldOut);
        d10.intoArray(dst, out + 10 * ldOut);
        d11.intoArray(dst, out + 11 * ldOut);
        d12.intoArray(dst, out + 12 * ldOut);
        d13.intoArray(dst, out + 13 * ldOut);
        d14.intoArray(dst, out + 14 * ldOut);
        d15.intoArray(dst, out + 15 * ldOut);
    }
}
