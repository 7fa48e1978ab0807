package ringattn.engine.kernel.simd;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link SimdOps} on 512-bit vectors (16 floats).
 *
 * <p>TEMPLATE: {@code Ops256} and {@code Ops128} are generated from this file by
 * {@code gen-ops.sh} in this directory (the species must be {@code static final} constants for C2,
 * so each width is its own class). Edit this file, then rerun the script.
 */
final class Ops512 extends SimdOps {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_512;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_512;
    private static final VectorSpecies<Short> H = ShortVector.SPECIES_256;
    private static final int L = F.length();
    /** Width of a B panel: 4 vectors. A compile-time constant stride is what lets C2 drop the range checks. */
    private static final int W = 4 * L;
    /** Rows of B per pass of {@link #gemm}: a 128 × W block is 32 KiB at 512 bits, inside L1. */
    private static final int KC = 128;
    private static final ValueLayout.OfFloat F32_LE =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32_BE =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfShort BF16_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort BF16_BE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    @Override
    int lanes() {
        return L;
    }

    @Override
    int bits() {
        return 512;
    }

    @Override
    void gemm(boolean accumulate, float[] a, int aOff, int aRs, int aCs, int m, int kd,
              float[] b, int bOff, int bPanelStride, float[] c, int cOff, int ldc, int n) {
        // k in chunks of KC so that the B block of one panel (KC × W floats) stays in L1 while every
        // row block uses it; a later chunk reloads C and continues the same FMA sequence, so the
        // result is the same bits as one pass.
        for (int k0 = 0; k0 < kd; k0 += KC) {
            int kc = Math.min(KC, kd - k0);
            boolean acc = accumulate || k0 > 0;
            int ak = aOff + k0 * aCs;
            for (int n0 = 0; n0 < n; n0 += W) {
                int bo = bOff + (n0 / W) * bPanelStride + k0 * W;
                if (n0 + W <= n) {
                    int r = 0;
                    int sixes = sixRowBlocks(m);
                    for (; r < 6 * sixes; r += 6) {
                        mk6x4(acc, a, ak + r * aRs, aRs, aCs, kc, b, bo, c, cOff + r * ldc + n0, ldc);
                    }
                    for (; r + 4 <= m; r += 4) {
                        mk4x4(acc, a, ak + r * aRs, aRs, aCs, kc, b, bo, c, cOff + r * ldc + n0, ldc);
                    }
                    for (; r < m; r++) {
                        mk1x4(acc, a, ak + r * aRs, aCs, kc, b, bo, c, cOff + r * ldc + n0);
                    }
                } else {
                    for (int v = 0; n0 + v < n; v += L) {
                        int r = 0;
                        for (; r + 4 <= m; r += 4) {
                            mk4x1(acc, a, ak + r * aRs, aRs, aCs, kc, b, bo + v, c, cOff + r * ldc + n0 + v, ldc);
                        }
                        for (; r < m; r++) {
                            mk1x1(acc, a, ak + r * aRs, aCs, kc, b, bo + v, c, cOff + r * ldc + n0 + v);
                        }
                    }
                }
            }
        }
    }

    /**
     * How many 6-row register blocks to run over {@code m} rows before the 4-row blocks and single
     * rows: all that fit, but one fewer when that would leave 2 or 3 rows (8 or 9 rows go as two
     * 4-row blocks and one row rather than a 6-row block and 2 or 3 single rows).
     */
    private static int sixRowBlocks(int m) {
        int sixes = m / 6;
        int rest = m - 6 * sixes;
        return (rest == 2 || rest == 3) && sixes > 0 ? sixes - 1 : sixes;
    }

    @Override
    boolean scoresExp(float[] a, int aOff, int aRs, int m, int kd, float[] b, int bOff, int bPanelStride,
                      float[] c, int cOff, int ldc, int n, float[] ref, int refOff, float[] sum, int sumOff) {
        if (kd > KC) { // the block would leave the registers between k chunks: exponentiate after
            gemm(false, a, aOff, aRs, 1, m, kd, b, bOff, bPanelStride, c, cOff, ldc, n);
            for (int n0 = 0; n0 < n; n0 += W) {
                if (anyNegativeInfinity(ref, refOff + n0, W)) {
                    firstReference(c, cOff + n0, ldc, m, ref, refOff + n0);
                }
                if (!lazyExp(c, cOff + n0, ldc, m, ref, refOff + n0, sum, sumOff + n0)) {
                    return false;
                }
            }
            return true;
        }
        for (int n0 = 0; n0 < n; n0 += W) {
            int bo = bOff + (n0 / W) * bPanelStride;
            int ro = refOff + n0;
            int so = sumOff + n0;
            boolean fresh = anyNegativeInfinity(ref, ro, W);
            int sixes = sixRowBlocks(m);
            // Register blocks of 6 (then 4, then 1) rows; exponentiated EXP_ROWS rows at a time
            // (still in L1), since a longer loop lets the out-of-order core overlap more exps.
            int done = 0;
            for (int r = 0; r < m; ) {
                int rows = r < 6 * sixes ? 6 : r + 4 <= m ? 4 : 1;
                int co = cOff + r * ldc + n0;
                if (rows == 6) {
                    mk6x4(false, a, aOff + r * aRs, aRs, 1, kd, b, bo, c, co, ldc);
                } else if (rows == 4) {
                    mk4x4(false, a, aOff + r * aRs, aRs, 1, kd, b, bo, c, co, ldc);
                } else {
                    mk1x4(false, a, aOff + r * aRs, 1, kd, b, bo, c, co);
                }
                if (fresh) {
                    firstReference(c, co, ldc, rows, ref, ro);
                    fresh = false;
                }
                r += rows;
                if (r - done >= EXP_ROWS || r == m) {
                    if (!lazyExp(c, cOff + done * ldc + n0, ldc, r - done, ref, ro, sum, so)) {
                        return false;
                    }
                    done = r;
                }
            }
        }
        return true;
    }

    /** Rows of a panel exponentiated per {@link #lazyExp} call in {@link #scoresExp}: 24 rows of W floats, 6 KiB. */
    private static final int EXP_ROWS = 24;

    private static boolean anyNegativeInfinity(float[] x, int off, int n) {
        for (int i = off; i < off + n; i++) {
            if (x[i] == Float.NEGATIVE_INFINITY) {
                return true;
            }
        }
        return false;
    }

    /**
     * Columns whose reference is −∞ (no key seen yet; their l and O are 0) take the maximum of the
     * first block's rows, rounded to an integer ({@link #integral}; NaN propagates): the rest of
     * the tile is then measured against it.
     */
    private static void firstReference(float[] c, int co, int ldc, int rows, float[] ref, int ro) {
        FloatVector magic = FloatVector.broadcast(F, MAGIC);
        for (int h = 0; h < W; h += L) {
            FloatVector mx = FloatVector.fromArray(F, c, co + h);
            for (int r = 1; r < rows; r++) {
                mx = mx.max(FloatVector.fromArray(F, c, co + r * ldc + h));
            }
            FloatVector old = FloatVector.fromArray(F, ref, ro + h);
            old.blend(integral(mx, magic), old.compare(VectorOperators.EQ, Float.NEGATIVE_INFINITY)).intoArray(ref, ro + h);
        }
    }

    /**
     * {@code x} rounded to an integer-valued float, {@code (x + 1.5·2^23) − 1.5·2^23}: the nearest
     * integer for {@code |x| < 2^22}, an integer within an ulp of x beyond; ±∞ and NaN unchanged.
     */
    private static FloatVector integral(FloatVector x, FloatVector magic) {
        return x.add(magic).sub(magic);
    }

    /**
     * {@code P = 2^((S − ref)/L)} (scores in units, {@link SimdOps#unitsPerNat}) in place over
     * {@code rows} rows of one panel (4 vectors) at {@code c[co + r·ldc]}, just written and still in
     * L1; adds each column's P to {@code sum} (rows in order). The references are integers of
     * magnitude below 2^21, so that {@code R = 1.5·2^23 − ref} is exact: then {@code t = S + R}
     * holds {@code k = rint(S − ref)} in its low bits, {@code t − R = ref + k} and
     * {@code f = S − (ref + k)} are exact, and one vector operation fewer than
     * {@link #expU} on {@code S − ref} remains per 16 scores. False if a reference is not such an
     * integer (the exact path then handles the tile), or if some {@code S − ref} exceeds
     * {@link SimdOps#LAZY_LIMIT} (or is a NaN of positive sign).
     */
    private static boolean lazyExp(float[] c, int co, int ldc, int rows, float[] ref, int ro, float[] sum, int so) {
        float[] k = EXP_CONSTANTS;
        FloatVector magic = FloatVector.broadcast(F, k[1]);
        FloatVector c5 = FloatVector.broadcast(F, k[2]);
        FloatVector c4 = FloatVector.broadcast(F, k[3]);
        FloatVector c3 = FloatVector.broadcast(F, k[4]);
        FloatVector c2 = FloatVector.broadcast(F, k[5]);
        FloatVector c1 = FloatVector.broadcast(F, k[6]);
        FloatVector c0 = FloatVector.broadcast(F, k[7]);
        FloatVector under = FloatVector.broadcast(F, k[1] + UNDERFLOW_UNITS);
        IntVector table = IntVector.fromArray(I, EXP_TABLE, 0);
        // The largest t = 1.5·2^23 + k, kept as int bits: for floats above 0 the order of the bits
        // is the order of the values (and no NaN rule applies), one integer max per vector.
        IntVector top = IntVector.broadcast(I, Integer.MIN_VALUE);
        for (int h = 0; h < 4 * L; h += 2 * L) { // two vectors per step: two independent exps
            FloatVector f0 = FloatVector.fromArray(F, ref, ro + h);
            FloatVector f1 = FloatVector.fromArray(F, ref, ro + h + L);
            if (f0.abs().max(f1.abs()).compare(VectorOperators.LT, MAX_REFERENCE).not().anyTrue()) {
                return false; // NaN or too large: not an exact R
            }
            FloatVector r0 = magic.sub(f0);
            FloatVector r1 = magic.sub(f1);
            FloatVector s0 = FloatVector.fromArray(F, sum, so + h);
            FloatVector s1 = FloatVector.fromArray(F, sum, so + h + L);
            for (int r = 0; r < rows; r++) {
                int o = co + r * ldc + h;
                FloatVector x0 = FloatVector.fromArray(F, c, o);
                FloatVector x1 = FloatVector.fromArray(F, c, o + L);
                FloatVector t0 = x0.add(r0);
                FloatVector t1 = x1.add(r1);
                top = top.max(t0.reinterpretAsInts()).max(t1.reinterpretAsInts());
                FloatVector p0 = lazyP(x0, t0, r0, under, c5, c4, c3, c2, c1, c0, table);
                FloatVector p1 = lazyP(x1, t1, r1, under, c5, c4, c3, c2, c1, c0, table);
                p0.intoArray(c, o);
                p1.intoArray(c, o + L);
                s0 = s0.add(p0);
                s1 = s1.add(p1);
            }
            s0.intoArray(sum, so + h);
            s1.intoArray(sum, so + h + L);
        }
        return !top.compare(VectorOperators.GT, LAZY_TOP_BITS).anyTrue();
    }

    /**
     * One vector of {@link #lazyExp}: {@code 2^((x − ref)/L)} from {@code t = x + R},
     * {@code R = 1.5·2^23 − ref}; 0 below {@link #UNDERFLOW_UNITS}.
     */
    private static FloatVector lazyP(FloatVector x, FloatVector t, FloatVector r, FloatVector under, FloatVector c5,
                                     FloatVector c4, FloatVector c3, FloatVector c2, FloatVector c1, FloatVector c0,
                                     IntVector table) {
        FloatVector f = x.sub(t.sub(r)); // x − ref − k, exact
        return scaled(poly(f, c5, c4, c3, c2, c1, c0), t, table).blend(0f, t.compare(VectorOperators.LT, under));
    }

    private static void mk6x4(boolean accumulate, float[] a, int ao, int aRs, int aCs, int kd,
                              float[] b, int bo, float[] c, int co, int ldc) {
        FloatVector c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33, c40, c41, c42, c43, c50, c51, c52, c53;
        int co0 = co;
        int co1 = co0 + ldc;
        int co2 = co1 + ldc;
        int co3 = co2 + ldc;
        int co4 = co3 + ldc;
        int co5 = co4 + ldc;
        if (accumulate) {
            c00 = FloatVector.fromArray(F, c, co0);
            c01 = FloatVector.fromArray(F, c, co0 + L);
            c02 = FloatVector.fromArray(F, c, co0 + 2 * L);
            c03 = FloatVector.fromArray(F, c, co0 + 3 * L);
            c10 = FloatVector.fromArray(F, c, co1);
            c11 = FloatVector.fromArray(F, c, co1 + L);
            c12 = FloatVector.fromArray(F, c, co1 + 2 * L);
            c13 = FloatVector.fromArray(F, c, co1 + 3 * L);
            c20 = FloatVector.fromArray(F, c, co2);
            c21 = FloatVector.fromArray(F, c, co2 + L);
            c22 = FloatVector.fromArray(F, c, co2 + 2 * L);
            c23 = FloatVector.fromArray(F, c, co2 + 3 * L);
            c30 = FloatVector.fromArray(F, c, co3);
            c31 = FloatVector.fromArray(F, c, co3 + L);
            c32 = FloatVector.fromArray(F, c, co3 + 2 * L);
            c33 = FloatVector.fromArray(F, c, co3 + 3 * L);
            c40 = FloatVector.fromArray(F, c, co4);
            c41 = FloatVector.fromArray(F, c, co4 + L);
            c42 = FloatVector.fromArray(F, c, co4 + 2 * L);
            c43 = FloatVector.fromArray(F, c, co4 + 3 * L);
            c50 = FloatVector.fromArray(F, c, co5);
            c51 = FloatVector.fromArray(F, c, co5 + L);
            c52 = FloatVector.fromArray(F, c, co5 + 2 * L);
            c53 = FloatVector.fromArray(F, c, co5 + 3 * L);
        } else {
            FloatVector z = FloatVector.zero(F);
            c00 = z; c01 = z; c02 = z; c03 = z;
            c10 = z; c11 = z; c12 = z; c13 = z;
            c20 = z; c21 = z; c22 = z; c23 = z;
            c30 = z; c31 = z; c32 = z; c33 = z;
            c40 = z; c41 = z; c42 = z; c43 = z;
            c50 = z; c51 = z; c52 = z; c53 = z;
        }
        int a0 = ao;
        int a1 = a0 + aRs;
        int a2 = a1 + aRs;
        int a3 = a2 + aRs;
        int a4 = a3 + aRs;
        int a5 = a4 + aRs;
        for (int k = 0; k < kd; k++) {
            int bk = bo + k * W;
            FloatVector b0 = FloatVector.fromArray(F, b, bk);
            FloatVector b1 = FloatVector.fromArray(F, b, bk + L);
            FloatVector b2 = FloatVector.fromArray(F, b, bk + 2 * L);
            FloatVector b3 = FloatVector.fromArray(F, b, bk + 3 * L);
            int ak = k * aCs;
            FloatVector x = FloatVector.broadcast(F, a[a0 + ak]);
            c00 = x.fma(b0, c00);
            c01 = x.fma(b1, c01);
            c02 = x.fma(b2, c02);
            c03 = x.fma(b3, c03);
            x = FloatVector.broadcast(F, a[a1 + ak]);
            c10 = x.fma(b0, c10);
            c11 = x.fma(b1, c11);
            c12 = x.fma(b2, c12);
            c13 = x.fma(b3, c13);
            x = FloatVector.broadcast(F, a[a2 + ak]);
            c20 = x.fma(b0, c20);
            c21 = x.fma(b1, c21);
            c22 = x.fma(b2, c22);
            c23 = x.fma(b3, c23);
            x = FloatVector.broadcast(F, a[a3 + ak]);
            c30 = x.fma(b0, c30);
            c31 = x.fma(b1, c31);
            c32 = x.fma(b2, c32);
            c33 = x.fma(b3, c33);
            x = FloatVector.broadcast(F, a[a4 + ak]);
            c40 = x.fma(b0, c40);
            c41 = x.fma(b1, c41);
            c42 = x.fma(b2, c42);
            c43 = x.fma(b3, c43);
            x = FloatVector.broadcast(F, a[a5 + ak]);
            c50 = x.fma(b0, c50);
            c51 = x.fma(b1, c51);
            c52 = x.fma(b2, c52);
            c53 = x.fma(b3, c53);
        }
        c00.intoArray(c, co0);
        c01.intoArray(c, co0 + L);
        c02.intoArray(c, co0 + 2 * L);
        c03.intoArray(c, co0 + 3 * L);
        c10.intoArray(c, co1);
        c11.intoArray(c, co1 + L);
        c12.intoArray(c, co1 + 2 * L);
        c13.intoArray(c, co1 + 3 * L);
        c20.intoArray(c, co2);
        c21.intoArray(c, co2 + L);
        c22.intoArray(c, co2 + 2 * L);
        c23.intoArray(c, co2 + 3 * L);
        c30.intoArray(c, co3);
        c31.intoArray(c, co3 + L);
        c32.intoArray(c, co3 + 2 * L);
        c33.intoArray(c, co3 + 3 * L);
        c40.intoArray(c, co4);
        c41.intoArray(c, co4 + L);
        c42.intoArray(c, co4 + 2 * L);
        c43.intoArray(c, co4 + 3 * L);
        c50.intoArray(c, co5);
        c51.intoArray(c, co5 + L);
        c52.intoArray(c, co5 + 2 * L);
        c53.intoArray(c, co5 + 3 * L);
    }

    private static void mk4x4(boolean accumulate, float[] a, int ao, int aRs, int aCs, int kd,
                              float[] b, int bo, float[] c, int co, int ldc) {
        FloatVector c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33;
        int co1 = co + ldc;
        int co2 = co1 + ldc;
        int co3 = co2 + ldc;
        if (accumulate) {
            c00 = FloatVector.fromArray(F, c, co);
            c01 = FloatVector.fromArray(F, c, co + L);
            c02 = FloatVector.fromArray(F, c, co + 2 * L);
            c03 = FloatVector.fromArray(F, c, co + 3 * L);
            c10 = FloatVector.fromArray(F, c, co1);
            c11 = FloatVector.fromArray(F, c, co1 + L);
            c12 = FloatVector.fromArray(F, c, co1 + 2 * L);
            c13 = FloatVector.fromArray(F, c, co1 + 3 * L);
            c20 = FloatVector.fromArray(F, c, co2);
            c21 = FloatVector.fromArray(F, c, co2 + L);
            c22 = FloatVector.fromArray(F, c, co2 + 2 * L);
            c23 = FloatVector.fromArray(F, c, co2 + 3 * L);
            c30 = FloatVector.fromArray(F, c, co3);
            c31 = FloatVector.fromArray(F, c, co3 + L);
            c32 = FloatVector.fromArray(F, c, co3 + 2 * L);
            c33 = FloatVector.fromArray(F, c, co3 + 3 * L);
        } else {
            FloatVector z = FloatVector.zero(F);
            c00 = z; c01 = z; c02 = z; c03 = z;
            c10 = z; c11 = z; c12 = z; c13 = z;
            c20 = z; c21 = z; c22 = z; c23 = z;
            c30 = z; c31 = z; c32 = z; c33 = z;
        }
        int a0 = ao;
        int a1 = ao + aRs;
        int a2 = a1 + aRs;
        int a3 = a2 + aRs;
        for (int k = 0; k < kd; k++) {
            int bk = bo + k * W;
            FloatVector b0 = FloatVector.fromArray(F, b, bk);
            FloatVector b1 = FloatVector.fromArray(F, b, bk + L);
            FloatVector b2 = FloatVector.fromArray(F, b, bk + 2 * L);
            FloatVector b3 = FloatVector.fromArray(F, b, bk + 3 * L);
            int ak = k * aCs;
            FloatVector x = FloatVector.broadcast(F, a[a0 + ak]);
            c00 = x.fma(b0, c00);
            c01 = x.fma(b1, c01);
            c02 = x.fma(b2, c02);
            c03 = x.fma(b3, c03);
            x = FloatVector.broadcast(F, a[a1 + ak]);
            c10 = x.fma(b0, c10);
            c11 = x.fma(b1, c11);
            c12 = x.fma(b2, c12);
            c13 = x.fma(b3, c13);
            x = FloatVector.broadcast(F, a[a2 + ak]);
            c20 = x.fma(b0, c20);
            c21 = x.fma(b1, c21);
            c22 = x.fma(b2, c22);
            c23 = x.fma(b3, c23);
            x = FloatVector.broadcast(F, a[a3 + ak]);
            c30 = x.fma(b0, c30);
            c31 = x.fma(b1, c31);
            c32 = x.fma(b2, c32);
            c33 = x.fma(b3, c33);
        }
        c00.intoArray(c, co);
        c01.intoArray(c, co + L);
        c02.intoArray(c, co + 2 * L);
        c03.intoArray(c, co + 3 * L);
        c10.intoArray(c, co1);
        c11.intoArray(c, co1 + L);
        c12.intoArray(c, co1 + 2 * L);
        c13.intoArray(c, co1 + 3 * L);
        c20.intoArray(c, co2);
        c21.intoArray(c, co2 + L);
        c22.intoArray(c, co2 + 2 * L);
        c23.intoArray(c, co2 + 3 * L);
        c30.intoArray(c, co3);
        c31.intoArray(c, co3 + L);
        c32.intoArray(c, co3 + 2 * L);
        c33.intoArray(c, co3 + 3 * L);
    }

    private static void mk1x4(boolean accumulate, float[] a, int ao, int aCs, int kd,
                              float[] b, int bo, float[] c, int co) {
        FloatVector c0, c1, c2, c3;
        if (accumulate) {
            c0 = FloatVector.fromArray(F, c, co);
            c1 = FloatVector.fromArray(F, c, co + L);
            c2 = FloatVector.fromArray(F, c, co + 2 * L);
            c3 = FloatVector.fromArray(F, c, co + 3 * L);
        } else {
            c0 = FloatVector.zero(F);
            c1 = c0;
            c2 = c0;
            c3 = c0;
        }
        for (int k = 0; k < kd; k++) {
            int bk = bo + k * W;
            FloatVector x = FloatVector.broadcast(F, a[ao + k * aCs]);
            c0 = x.fma(FloatVector.fromArray(F, b, bk), c0);
            c1 = x.fma(FloatVector.fromArray(F, b, bk + L), c1);
            c2 = x.fma(FloatVector.fromArray(F, b, bk + 2 * L), c2);
            c3 = x.fma(FloatVector.fromArray(F, b, bk + 3 * L), c3);
        }
        c0.intoArray(c, co);
        c1.intoArray(c, co + L);
        c2.intoArray(c, co + 2 * L);
        c3.intoArray(c, co + 3 * L);
    }

    private static void mk4x1(boolean accumulate, float[] a, int ao, int aRs, int aCs, int kd,
                              float[] b, int bo, float[] c, int co, int ldc) {
        FloatVector c0, c1, c2, c3;
        if (accumulate) {
            c0 = FloatVector.fromArray(F, c, co);
            c1 = FloatVector.fromArray(F, c, co + ldc);
            c2 = FloatVector.fromArray(F, c, co + 2 * ldc);
            c3 = FloatVector.fromArray(F, c, co + 3 * ldc);
        } else {
            c0 = FloatVector.zero(F);
            c1 = c0;
            c2 = c0;
            c3 = c0;
        }
        int a1 = ao + aRs;
        int a2 = a1 + aRs;
        int a3 = a2 + aRs;
        for (int k = 0; k < kd; k++) {
            FloatVector bv = FloatVector.fromArray(F, b, bo + k * W);
            int ak = k * aCs;
            c0 = FloatVector.broadcast(F, a[ao + ak]).fma(bv, c0);
            c1 = FloatVector.broadcast(F, a[a1 + ak]).fma(bv, c1);
            c2 = FloatVector.broadcast(F, a[a2 + ak]).fma(bv, c2);
            c3 = FloatVector.broadcast(F, a[a3 + ak]).fma(bv, c3);
        }
        c0.intoArray(c, co);
        c1.intoArray(c, co + ldc);
        c2.intoArray(c, co + 2 * ldc);
        c3.intoArray(c, co + 3 * ldc);
    }

    private static void mk1x1(boolean accumulate, float[] a, int ao, int aCs, int kd,
                              float[] b, int bo, float[] c, int co) {
        FloatVector c0 = accumulate ? FloatVector.fromArray(F, c, co) : FloatVector.zero(F);
        for (int k = 0; k < kd; k++) {
            c0 = FloatVector.broadcast(F, a[ao + k * aCs]).fma(FloatVector.fromArray(F, b, bo + k * W), c0);
        }
        c0.intoArray(c, co);
    }

    @Override
    void softmaxColumns(float[] s, int off, int ldc, int rows, int cols, float[] m, float[] l, int st,
                        float[] alpha, int al) {
        // Three loops in three methods with one exp call site each: a larger method leaves exp out
        // of line, and then every vector it returns is a heap object.
        columnMax(s, off, ldc, rows, cols, m, st, alpha, al);
        expUnits(alpha, al, cols);
        expColumns(s, off, ldc, rows, cols, m, l, st, alpha, al);
    }

    /**
     * {@code m = integral(max(m, max_j S[j][c]))} per column ({@link #integral}, so that the lazy
     * path can take it as its reference); {@code alpha = mOld − μ} (exponentiated later).
     * Two column vectors at a time (one cache line of each row), two chains each.
     */
    private static void columnMax(float[] s, int off, int ldc, int rows, int cols, float[] m, int st,
                                  float[] alpha, int al) {
        FloatVector ninf = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        for (int c = 0; c < cols; c += 2 * L) {
            int base = off + c;
            FloatVector x0 = FloatVector.fromArray(F, m, st + c);
            FloatVector y0 = FloatVector.fromArray(F, m, st + c + L);
            FloatVector x1 = ninf;
            FloatVector y1 = ninf;
            int j = 0;
            for (; j + 2 <= rows; j += 2) {
                int o = base + j * ldc;
                x0 = x0.max(FloatVector.fromArray(F, s, o));
                y0 = y0.max(FloatVector.fromArray(F, s, o + L));
                x1 = x1.max(FloatVector.fromArray(F, s, o + ldc));
                y1 = y1.max(FloatVector.fromArray(F, s, o + ldc + L));
            }
            if (j < rows) {
                int o = base + j * ldc;
                x0 = x0.max(FloatVector.fromArray(F, s, o));
                y0 = y0.max(FloatVector.fromArray(F, s, o + L));
            }
            finishMax(x0.max(x1), m, st + c, alpha, al + c);
            finishMax(y0.max(y1), m, st + c + L, alpha, al + c + L);
        }
    }

    private static void finishMax(FloatVector max, float[] m, int at, float[] alpha, int al) {
        FloatVector mNew = integral(max, FloatVector.broadcast(F, MAGIC));
        FloatVector.fromArray(F, m, at).sub(mu(mNew)).intoArray(alpha, al);
        mNew.intoArray(m, at);
    }

    /** The max to subtract: 0 where it is −∞ (no key seen yet), so that exp(−∞ − μ) = 0, not NaN. */
    private static FloatVector mu(FloatVector mNew) {
        return mNew.blend(0f, mNew.compare(VectorOperators.EQ, Float.NEGATIVE_INFINITY));
    }

    @Override
    void exp(float[] x, int off, int n) {
        for (int i = 0; i < n; i += L) {
            exp(FloatVector.fromArray(F, x, off + i)).intoArray(x, off + i);
        }
    }

    /**
     * {@code S = 2^((S − μ)/L)} in place (units) and {@code l = l·alpha + Σ_j S[j][c]} per column, rows summed
     * in order. Two column vectors at a time: two independent exps per step keep both FMA pipes
     * busy (about 1.3× the throughput of one).
     */
    private static void expColumns(float[] s, int off, int ldc, int rows, int cols, float[] m, float[] l, int st,
                                   float[] alpha, int al) {
        FloatVector zero = FloatVector.zero(F);
        for (int c = 0; c < cols; c += 2 * L) {
            int base = off + c;
            FloatVector mx = mu(FloatVector.fromArray(F, m, st + c));
            FloatVector my = mu(FloatVector.fromArray(F, m, st + c + L));
            FloatVector sx = zero;
            FloatVector sy = zero;
            for (int j = 0; j < rows; j++) {
                int o = base + j * ldc;
                FloatVector px = expU(FloatVector.fromArray(F, s, o).sub(mx));
                FloatVector py = expU(FloatVector.fromArray(F, s, o + L).sub(my));
                px.intoArray(s, o);
                py.intoArray(s, o + L);
                sx = sx.add(px);
                sy = sy.add(py);
            }
            finishSum(sx, l, st + c, alpha, al + c);
            finishSum(sy, l, st + c + L, alpha, al + c + L);
        }
    }

    private static void finishSum(FloatVector sum, float[] l, int at, float[] alpha, int al) {
        FloatVector.fromArray(F, l, at).mul(FloatVector.fromArray(F, alpha, al)).add(sum).intoArray(l, at);
    }

    /**
     * {@code e^x} per lane from exactly rounded operations only (FMA, add, multiply, integer add and
     * shift, a table lookup inside one register, compare, blend), table-driven:
     * {@code e^x = 2^(k/L) · 2^(f/L)} with {@code k = rint(x·L·log2 e)} and
     * {@code f = x·L·log2 e − k ∈ [−½, ½]} (one FMA; {@code L·log2 e} is exact). {@code 2^(k/L)} is
     * {@code 2^(k mod L / L)} from a table of L entries held in one vector, its exponent raised by
     * {@code ⌊k / L⌋} with an integer add (always a normal number here, so exact), and
     * {@code 2^(f/L) = e^y}, {@code |y| ≤ ln 2 / 2L}, is a Taylor polynomial of degree
     * {@link #EXP_DEGREE} (3 at 16 lanes: truncation ≤ 1e−8). 6 FMA-pipe operations at 512 bits (7
     * at 256, 8 at 128), where the Cephes {@code 2^n · 2^f} form needed 9. Measured against
     * {@code Math.exp} (ExpTest): ≤ 5 ulp on [−16, 0] (4.79 measured) and ≤ 20 ulp on [−80, 0]
     * (mostly the rounding of {@code log2 e} times x; those values are below e^−16 of the row's
     * largest).
     * {@code e^0 = 1} exactly. Lanes below −87.3 give 0 (−∞ included), above 88.3 give +∞, NaN
     * stays NaN (the last step is a multiply by the NaN). The backward's exp; the forward works in
     * units ({@link #expU}).
     *
     * <p>Not {@code VectorOperators.EXP}: C2 computes that with the SVML stub, the interpreter and C1
     * lane by lane with {@code Math.exp}, and the two differ in the last bit on about 3% of inputs
     * (measured), so a kernel using it gives different bytes before and after JIT compilation.
     * This one gives the same bits in every tier.
     */
    private static FloatVector exp(FloatVector x) {
        float[] k = EXP_CONSTANTS;
        FloatVector log2eL = FloatVector.broadcast(F, k[0]);
        FloatVector magic = FloatVector.broadcast(F, k[1]);
        FloatVector t = x.fma(log2eL, magic); // 1.5·2^23 + k, k = rint(x·L·log2 e), |k| < 2^22
        FloatVector f = x.fma(log2eL, magic.sub(t)); // x·L·log2 e − k
        FloatVector p = poly(f, FloatVector.broadcast(F, k[2]), FloatVector.broadcast(F, k[3]),
                FloatVector.broadcast(F, k[4]), FloatVector.broadcast(F, k[5]), FloatVector.broadcast(F, k[6]),
                FloatVector.broadcast(F, k[7]));
        return scaled(p, t, IntVector.fromArray(I, EXP_TABLE, 0))
                .blend(0f, x.compare(VectorOperators.LT, -87.3f))
                .blend(Float.POSITIVE_INFINITY, x.compare(VectorOperators.GT, 88.3f));
    }

    /**
     * {@code 2^(x/L)} per lane: the forward's exp, on scores in units of {@code ln 2 / L}
     * ({@link SimdOps#unitsPerNat}; Q is scaled by it). The same table and polynomial as
     * {@link #exp}, with no multiply in the reduction: {@code t = x + 1.5·2^23} holds
     * {@code k = rint(x)} in its low bits, and {@code f = x − (t − 1.5·2^23)} is exact, so the
     * error is the polynomial's, the table entry's and the last product's rounding (ExpTest: ≤ 2
     * ulp against {@code StrictMath.pow}). {@code 2^0 = 1} exactly. Lanes below
     * {@link #UNDERFLOW_UNITS} give 0 (−∞ included), above 88.3 natural units +∞, NaN stays NaN.
     */
    private static FloatVector expU(FloatVector x) {
        float[] k = EXP_CONSTANTS;
        FloatVector magic = FloatVector.broadcast(F, k[1]);
        FloatVector t = x.add(magic);
        FloatVector f = x.sub(t.sub(magic));
        FloatVector p = poly(f, FloatVector.broadcast(F, k[2]), FloatVector.broadcast(F, k[3]),
                FloatVector.broadcast(F, k[4]), FloatVector.broadcast(F, k[5]), FloatVector.broadcast(F, k[6]),
                FloatVector.broadcast(F, k[7]));
        return scaled(p, t, IntVector.fromArray(I, EXP_TABLE, 0))
                .blend(0f, x.compare(VectorOperators.LT, UNDERFLOW_UNITS))
                .blend(Float.POSITIVE_INFINITY, x.compare(VectorOperators.GT, OVERFLOW_UNITS));
    }

    /** {@code 2^(f/L)}, {@code |f| ≤ ½}: the Taylor polynomial of {@code e^y}, {@code y = f·ln 2 / L}, by Horner. */
    private static FloatVector poly(FloatVector f, FloatVector c5, FloatVector c4, FloatVector c3, FloatVector c2,
                                    FloatVector c1, FloatVector c0) {
        FloatVector p;
        if (EXP_DEGREE == 3) {
            p = f.fma(c3, c2);
        } else if (EXP_DEGREE == 4) {
            p = f.fma(c4, c3).fma(f, c2);
        } else {
            p = f.fma(c5, c4).fma(f, c3).fma(f, c2);
        }
        return p.fma(f, c1).fma(f, c0);
    }

    /**
     * {@code p · 2^(k/L)} for {@code t = 1.5·2^23 + k}: the bits of t are those of 1.5·2^23 plus
     * k, and the former vanish both mod L (the table index, as selectFrom wraps it) and shifted
     * left by 23 − TABLE_BITS, so no subtraction is needed. A normal number for
     * {@code −126·L ≤ k < 128·L}; callers blend outside that.
     */
    private static FloatVector scaled(FloatVector p, FloatVector t, IntVector table) {
        IntVector tb = t.reinterpretAsInts();
        IntVector scale = tb.selectFrom(table).add(tb.lanewise(VectorOperators.LSHL, 23 - TABLE_BITS));
        return p.mul(scale.reinterpretAsFloats());
    }

    /** log2 L: the table has L = 2^TABLE_BITS entries, one per lane. */
    private static final int TABLE_BITS = Integer.numberOfTrailingZeros(L);
    /** Degree of the polynomial for {@code 2^(f/L)} ({@link SimdOps#expDegree}). */
    private static final int EXP_DEGREE = expDegree(L);
    /**
     * The exp's constants ({@link SimdOps#expConstants}); read from this array so that C2 keeps
     * them in registers across a loop.
     */
    private static final float[] EXP_CONSTANTS = expConstants(L);
    /** The exp's table ({@link SimdOps#expTable}). */
    private static final int[] EXP_TABLE = expTable(L);
    /** Units per natural-log unit, {@code L·log2 e} (exact: a power of two times the float log2 e). */
    private static final float UNITS = EXP_CONSTANTS[0];
    /** {@code 1.5·2^23}: adding it rounds to an integer, which then sits in the low mantissa bits. */
    private static final float MAGIC = EXP_CONSTANTS[1];
    /** Below this (−87.3 natural units) {@link #expU} gives 0: {@code 2^(k/L)} stays a normal number above it. */
    private static final float UNDERFLOW_UNITS = -87.3f * UNITS;
    /** Above this (88.3 natural units) {@link #expU} gives +∞. */
    private static final float OVERFLOW_UNITS = 88.3f * UNITS;
    /** The reference bound of {@link #lazyExp}: {@code |ref| < 2^21}. */
    private static final float MAX_REFERENCE = 0x1p21f;
    /** Bits of {@code t = 1.5·2^23 + k} at {@code k = LAZY_LIMIT} in units. */
    private static final int LAZY_TOP_BITS = Float.floatToRawIntBits(MAGIC + LAZY_LIMIT * UNITS);

    @Override
    void expUnits(float[] x, int off, int n) {
        for (int i = 0; i < n; i += L) {
            expU(FloatVector.fromArray(F, x, off + i)).intoArray(x, off + i);
        }
    }

    @Override
    void toRowPanels(float[] src, int srcOff, int ld, int rows, int d, int[] index, float[] dst, int dstOff) {
        for (int i = 0; i < L; i++) {
            index[i] = i * ld;
        }
        // At 16 lanes whole 16-column blocks go through registers (Transpose16), the rest by gathers.
        int blocked = L == 16 ? d / 16 * 16 : 0;
        for (int p = 0; p < rows; p += W) {
            int out = dstOff + p * d;
            for (int k = 0; k < blocked; k += 16) {
                for (int q = 0; q < W; q += 16) {
                    Transpose16.block(src, srcOff + (p + q) * ld + k, ld, dst, out + k * W + q, W);
                }
            }
            for (int k = blocked; k < d; k++) {
                int in = srcOff + p * ld + k;
                FloatVector.fromArray(F, src, in, index, 0).intoArray(dst, out + k * W);
                FloatVector.fromArray(F, src, in + L * ld, index, 0).intoArray(dst, out + k * W + L);
                FloatVector.fromArray(F, src, in + 2 * L * ld, index, 0).intoArray(dst, out + k * W + 2 * L);
                FloatVector.fromArray(F, src, in + 3 * L * ld, index, 0).intoArray(dst, out + k * W + 3 * L);
            }
        }
    }

    @Override
    void scale(float[] x, int off, int n, float f) {
        FloatVector fv = FloatVector.broadcast(F, f);
        for (int i = 0; i < n; i += L) {
            FloatVector.fromArray(F, x, off + i).mul(fv).intoArray(x, off + i);
        }
    }

    @Override
    void backwardRow(float[] s, float[] dp, int off, int n, float scale, float[] lse, float[] delta, int col) {
        FloatVector sc = FloatVector.broadcast(F, scale);
        for (int i = 0; i < n; i += L) {
            FloatVector p = exp(FloatVector.fromArray(F, s, off + i)
                    .fma(sc, FloatVector.fromArray(F, lse, col + i).neg()));
            FloatVector ds = p.mul(FloatVector.fromArray(F, dp, off + i).sub(FloatVector.fromArray(F, delta, col + i))).mul(sc);
            p.intoArray(s, off + i);
            ds.intoArray(dp, off + i);
        }
    }

    @Override
    void loadRow(MemorySegment seg, long byteOff, ByteOrder order, boolean bf16, int d, float scale,
                 float[] dst, int dstOff) {
        int c = 0;
        int bound = F.loopBound(d);
        if (bf16) {
            for (; c < bound; c += L) {
                ShortVector raw = ShortVector.fromMemorySegment(H, seg, byteOff + 2L * c, order);
                ((IntVector) raw.convertShape(VectorOperators.S2I, I, 0))
                        .lanewise(VectorOperators.LSHL, 16)
                        .reinterpretAsFloats()
                        .mul(scale)
                        .intoArray(dst, dstOff + c);
            }
            ValueLayout.OfShort layout = order == ByteOrder.LITTLE_ENDIAN ? BF16_LE : BF16_BE;
            for (; c < d; c++) {
                short bits = seg.get(layout, byteOff + 2L * c);
                dst[dstOff + c] = Float.intBitsToFloat((bits & 0xFFFF) << 16) * scale;
            }
        } else {
            for (; c < bound; c += L) {
                FloatVector.fromMemorySegment(F, seg, byteOff + 4L * c, order).mul(scale).intoArray(dst, dstOff + c);
            }
            ValueLayout.OfFloat layout = order == ByteOrder.LITTLE_ENDIAN ? F32_LE : F32_BE;
            for (; c < d; c++) {
                dst[dstOff + c] = seg.get(layout, byteOff + 4L * c) * scale;
            }
        }
    }

    @Override
    void storeRow(float[] src, int srcOff, MemorySegment seg, long byteOff, ByteOrder order, int d) {
        int c = 0;
        int bound = F.loopBound(d);
        for (; c < bound; c += L) {
            FloatVector.fromArray(F, src, srcOff + c).intoMemorySegment(seg, byteOff + 4L * c, order);
        }
        ValueLayout.OfFloat layout = order == ByteOrder.LITTLE_ENDIAN ? F32_LE : F32_BE;
        for (; c < d; c++) {
            seg.set(layout, byteOff + 4L * c, src[srcOff + c]);
        }
    }

    @Override
    void addInto(MemorySegment dst, MemorySegment src, long from, long to) {
        ByteOrder order = ByteOrder.nativeOrder();
        long i = from;
        long bound = from + (to - from) / L * L;
        for (; i < bound; i += L) {
            FloatVector.fromMemorySegment(F, dst, 4 * i, order)
                    .add(FloatVector.fromMemorySegment(F, src, 4 * i, order))
                    .intoMemorySegment(dst, 4 * i, order);
        }
        for (; i < to; i++) {
            dst.setAtIndex(ValueLayout.JAVA_FLOAT, i,
                    dst.getAtIndex(ValueLayout.JAVA_FLOAT, i) + src.getAtIndex(ValueLayout.JAVA_FLOAT, i));
        }
    }
}
