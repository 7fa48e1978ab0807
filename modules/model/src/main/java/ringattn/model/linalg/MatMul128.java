package ringattn.model.linalg;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import ringattn.engine.tensor.DType;

/**
 * {@link MatMulKernel} on 128-bit vectors (4 floats): register-blocked micro-kernels of 4 tokens ×
 * 2 output rows (8 accumulators, one {@code reduceLanes} each at the end), with 4×1, 1×2 and 1×1
 * kernels for the edges; bf16 weights widened in registers ({@code S2I}, {@code << 16}).
 *
 * <p>GENERATED from {@code MatMul256.java} by {@code gen-matmul.sh}: do not edit; edit the
 * template and rerun the script (the species must be {@code static final} constants for C2,
 * so each width is its own class).
 */
final class MatMul128 extends MatMulKernel {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_128;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_128;
    private static final VectorSpecies<Short> H = ShortVector.SPECIES_64;
    private static final int L = F.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    @Override
    String name() {
        return "panama-128";
    }

    @Override
    void multiply(MemorySegment x, int n, int k, MemorySegment w, boolean bf16, int m,
                  MemorySegment y, int oFrom, int oTo) {
        for (int t0 = 0; t0 < n; t0 += TOKEN_BLOCK) {
            int t1 = Math.min(n, t0 + TOKEN_BLOCK);
            for (int o0 = oFrom; o0 < oTo; o0 += TILE) {
                block(x, t0, t1, k, w, bf16, m, y, o0, Math.min(o0 + TILE, oTo));
            }
        }
    }

    private static void block(MemorySegment x, int t0, int t1, int k, MemorySegment w, boolean bf16, int m,
                              MemorySegment y, int o0, int o1) {
        int t = t0;
        for (; t + 4 <= t1; t += 4) {
            int o = o0;
            for (; o + 2 <= o1; o += 2) {
                mk4x2(x, t, k, w, bf16, o, y, m);
            }
            if (o < o1) {
                mk4x1(x, t, k, w, bf16, o, y, m);
            }
        }
        for (; t < t1; t++) {
            int o = o0;
            for (; o + 2 <= o1; o += 2) {
                mk1x2(x, t, k, w, bf16, o, y, m);
            }
            if (o < o1) {
                mk1x1(x, t, k, w, bf16, o, y, m);
            }
        }
    }

    private static FloatVector loadW(MemorySegment w, boolean bf16, long index) {
        if (bf16) {
            ShortVector raw = ShortVector.fromMemorySegment(H, w, index * 2, LE);
            return ((IntVector) raw.convertShape(VectorOperators.S2I, I, 0))
                    .lanewise(VectorOperators.LSHL, 16)
                    .reinterpretAsFloats();
        }
        return FloatVector.fromMemorySegment(F, w, index * 4, LE);
    }

    private static float w1(MemorySegment w, boolean bf16, long index) {
        return bf16 ? DType.bf16ToFloat(w.getAtIndex(Layouts.BF16_LE, index)) : w.getAtIndex(Layouts.F32_LE, index);
    }

    private static FloatVector loadX(MemorySegment x, long index) {
        return FloatVector.fromMemorySegment(F, x, index * 4, LE);
    }

    private static float x1(MemorySegment x, long index) {
        return x.getAtIndex(Layouts.F32_LE, index);
    }

    private static void store(MemorySegment y, long index, float v) {
        y.setAtIndex(Layouts.F32_LE, index, v);
    }

    private static void mk4x2(MemorySegment x, int t, int k, MemorySegment w, boolean bf16, int o,
                              MemorySegment y, int m) {
        long x0 = (long) t * k;
        long x1 = x0 + k;
        long x2 = x1 + k;
        long x3 = x2 + k;
        long w0 = (long) o * k;
        long w1 = w0 + k;
        FloatVector a00 = FloatVector.zero(F);
        FloatVector a01 = FloatVector.zero(F);
        FloatVector a10 = FloatVector.zero(F);
        FloatVector a11 = FloatVector.zero(F);
        FloatVector a20 = FloatVector.zero(F);
        FloatVector a21 = FloatVector.zero(F);
        FloatVector a30 = FloatVector.zero(F);
        FloatVector a31 = FloatVector.zero(F);
        int bound = F.loopBound(k);
        int i = 0;
        for (; i < bound; i += L) {
            FloatVector b0 = loadW(w, bf16, w0 + i);
            FloatVector b1 = loadW(w, bf16, w1 + i);
            FloatVector v = loadX(x, x0 + i);
            a00 = v.fma(b0, a00);
            a01 = v.fma(b1, a01);
            v = loadX(x, x1 + i);
            a10 = v.fma(b0, a10);
            a11 = v.fma(b1, a11);
            v = loadX(x, x2 + i);
            a20 = v.fma(b0, a20);
            a21 = v.fma(b1, a21);
            v = loadX(x, x3 + i);
            a30 = v.fma(b0, a30);
            a31 = v.fma(b1, a31);
        }
        float s00 = a00.reduceLanes(VectorOperators.ADD);
        float s01 = a01.reduceLanes(VectorOperators.ADD);
        float s10 = a10.reduceLanes(VectorOperators.ADD);
        float s11 = a11.reduceLanes(VectorOperators.ADD);
        float s20 = a20.reduceLanes(VectorOperators.ADD);
        float s21 = a21.reduceLanes(VectorOperators.ADD);
        float s30 = a30.reduceLanes(VectorOperators.ADD);
        float s31 = a31.reduceLanes(VectorOperators.ADD);
        for (; i < k; i++) {
            float b0 = w1(w, bf16, w0 + i);
            float b1 = w1(w, bf16, w1 + i);
            float v0 = x1(x, x0 + i);
            float v1 = x1(x, x1 + i);
            float v2 = x1(x, x2 + i);
            float v3 = x1(x, x3 + i);
            s00 = Math.fma(v0, b0, s00);
            s01 = Math.fma(v0, b1, s01);
            s10 = Math.fma(v1, b0, s10);
            s11 = Math.fma(v1, b1, s11);
            s20 = Math.fma(v2, b0, s20);
            s21 = Math.fma(v2, b1, s21);
            s30 = Math.fma(v3, b0, s30);
            s31 = Math.fma(v3, b1, s31);
        }
        long y0 = (long) t * m + o;
        store(y, y0, s00);
        store(y, y0 + 1, s01);
        store(y, y0 + m, s10);
        store(y, y0 + m + 1, s11);
        store(y, y0 + 2L * m, s20);
        store(y, y0 + 2L * m + 1, s21);
        store(y, y0 + 3L * m, s30);
        store(y, y0 + 3L * m + 1, s31);
    }

    private static void mk4x1(MemorySegment x, int t, int k, MemorySegment w, boolean bf16, int o,
                              MemorySegment y, int m) {
        long x0 = (long) t * k;
        long w0 = (long) o * k;
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        FloatVector a2 = FloatVector.zero(F);
        FloatVector a3 = FloatVector.zero(F);
        int bound = F.loopBound(k);
        int i = 0;
        for (; i < bound; i += L) {
            FloatVector b0 = loadW(w, bf16, w0 + i);
            a0 = loadX(x, x0 + i).fma(b0, a0);
            a1 = loadX(x, x0 + k + i).fma(b0, a1);
            a2 = loadX(x, x0 + 2L * k + i).fma(b0, a2);
            a3 = loadX(x, x0 + 3L * k + i).fma(b0, a3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD);
        float s1 = a1.reduceLanes(VectorOperators.ADD);
        float s2 = a2.reduceLanes(VectorOperators.ADD);
        float s3 = a3.reduceLanes(VectorOperators.ADD);
        for (; i < k; i++) {
            float b0 = w1(w, bf16, w0 + i);
            s0 = Math.fma(x1(x, x0 + i), b0, s0);
            s1 = Math.fma(x1(x, x0 + k + i), b0, s1);
            s2 = Math.fma(x1(x, x0 + 2L * k + i), b0, s2);
            s3 = Math.fma(x1(x, x0 + 3L * k + i), b0, s3);
        }
        long y0 = (long) t * m + o;
        store(y, y0, s0);
        store(y, y0 + m, s1);
        store(y, y0 + 2L * m, s2);
        store(y, y0 + 3L * m, s3);
    }

    private static void mk1x2(MemorySegment x, int t, int k, MemorySegment w, boolean bf16, int o,
                              MemorySegment y, int m) {
        long x0 = (long) t * k;
        long w0 = (long) o * k;
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        int bound = F.loopBound(k);
        int i = 0;
        for (; i < bound; i += L) {
            FloatVector v = loadX(x, x0 + i);
            a0 = v.fma(loadW(w, bf16, w0 + i), a0);
            a1 = v.fma(loadW(w, bf16, w0 + k + i), a1);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD);
        float s1 = a1.reduceLanes(VectorOperators.ADD);
        for (; i < k; i++) {
            float v = x1(x, x0 + i);
            s0 = Math.fma(v, w1(w, bf16, w0 + i), s0);
            s1 = Math.fma(v, w1(w, bf16, w0 + k + i), s1);
        }
        long y0 = (long) t * m + o;
        store(y, y0, s0);
        store(y, y0 + 1, s1);
    }

    private static void mk1x1(MemorySegment x, int t, int k, MemorySegment w, boolean bf16, int o,
                              MemorySegment y, int m) {
        long x0 = (long) t * k;
        long w0 = (long) o * k;
        FloatVector a0 = FloatVector.zero(F);
        int bound = F.loopBound(k);
        int i = 0;
        for (; i < bound; i += L) {
            a0 = loadX(x, x0 + i).fma(loadW(w, bf16, w0 + i), a0);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD);
        for (; i < k; i++) {
            s0 = Math.fma(x1(x, x0 + i), w1(w, bf16, w0 + i), s0);
        }
        store(y, (long) t * m + o, s0);
    }
}
