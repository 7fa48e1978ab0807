package ringattn.model.linalg;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import ringattn.engine.kernel.ElementwiseF32;

/**
 * The attention of one new query per head over a cache shard, for decoding: every cached key is
 * visible (they all precede the query), so it is one softmax per head, in fp32. The cache is held
 * transposed, {@code [kvHeads, headDim, capacity]} for K and for V, so that the vectors run along the
 * keys whatever the head size: scores {@code s = Σ_d q[d]·K[d][·]} by fused multiply-adds along the
 * keys, {@code p = e^(s − max)} with the block kernels' exp ({@link ElementwiseF32#expSum}),
 * {@code o[d] = Σ_j p[j]·V[d][j] / Σ_j p[j]}. Every step is exactly rounded and in a fixed order (no
 * {@code VectorOperators.EXP}, no {@code reduceLanes(ADD)}), so the result is the same bits before
 * and after JIT compilation.
 * The block kernel's tiles, by contrast, put many query rows along the lanes, which one query cannot
 * fill. Query heads of a GQA group read their K/V head.
 *
 * <p>Writes {@code out} ({@code [heads, headDim]}) and {@code lse} ({@code [heads]}, natural log;
 * −∞ and O = 0 for an empty shard); the caller's {@code scores} scratch holds at least the shard's
 * keys. Stateless; thread-safe for distinct outputs and scratch.
 */
public final class DecodeAttention {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT;

    private DecodeAttention() {
    }

    /**
     * Heads {@code [h0, h1)} of query {@code q} ({@code [heads, headDim]} fp32) over the {@code n}
     * cached keys of {@code kt} and {@code vt} (each {@code [kvHeads, headDim, capacity]} fp32, native
     * order), scores scaled by {@code scale}.
     */
    public static void attend(MemorySegment q, int heads, int kvHeads, int headDim, float scale, MemorySegment kt,
                              MemorySegment vt, int capacity, int n, int h0, int h1, float[] scores,
                              MemorySegment out, MemorySegment lse) {
        int group = heads / kvHeads;
        for (int h = h0; h < h1; h++) {
            long outAt = (long) h * headDim;
            if (n == 0) {
                for (int d = 0; d < headDim; d++) {
                    out.setAtIndex(F32, outAt + d, 0f);
                }
                lse.setAtIndex(F32, h, Float.NEGATIVE_INFINITY);
                continue;
            }
            long base = (long) (h / group) * headDim * capacity;
            scores(q, outAt, headDim, scale, kt, base, capacity, n, scores);
            float m = max(scores, n);
            float sum = ElementwiseF32.expSum(scores, n, m);
            weighted(vt, base, capacity, headDim, n, scores, 1f / sum, out, outAt);
            lse.setAtIndex(F32, h, (float) (m + Math.log(sum)));
        }
    }

    // Small methods, one loop nest each: C2 compiles each whole from its first call (the key count
    // grows by one per token, so a large method's vector loops would first run with n < L and be
    // compiled as never taken, then trap and recompile, step by step).

    /** {@code scores[j] = Σ_d q[d]·scale·K[d][j]} for the keys {@code j < n}, fused multiply-adds along the keys. */
    private static void scores(MemorySegment q, long qAt, int headDim, float scale, MemorySegment kt, long base,
                               int capacity, int n, float[] scores) {
        java.util.Arrays.fill(scores, 0, n, 0f);
        int bound = F.loopBound(n);
        for (int d = 0; d < headDim; d++) {
            float qd = q.getAtIndex(F32, qAt + d) * scale;
            FloatVector qv = FloatVector.broadcast(F, qd);
            long row = 4L * (base + (long) d * capacity);
            int j = 0;
            for (; j < bound; j += L) {
                FloatVector k = FloatVector.fromMemorySegment(F, kt, row + 4L * j, NATIVE);
                k.fma(qv, FloatVector.fromArray(F, scores, j)).intoArray(scores, j);
            }
            for (; j < n; j++) {
                scores[j] = Math.fma(kt.get(F32, row + 4L * j), qd, scores[j]);
            }
        }
    }

    private static float max(float[] scores, int n) {
        int bound = F.loopBound(n);
        FloatVector mv = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int j = 0;
        for (; j < bound; j += L) {
            mv = mv.max(FloatVector.fromArray(F, scores, j));
        }
        float m = mv.reduceLanes(VectorOperators.MAX);
        for (; j < n; j++) {
            m = Math.max(m, scores[j]);
        }
        return m;
    }

    /** {@code out[d] = inv · Σ_j p[j]·V[d][j]}, each sum lane by lane and then over the lanes in order. */
    private static void weighted(MemorySegment vt, long base, int capacity, int headDim, int n, float[] p, float inv,
                                 MemorySegment out, long outAt) {
        int bound = F.loopBound(n);
        for (int d = 0; d < headDim; d++) {
            long row = 4L * (base + (long) d * capacity);
            FloatVector acc = FloatVector.zero(F);
            int j = 0;
            for (; j < bound; j += L) {
                FloatVector v = FloatVector.fromMemorySegment(F, vt, row + 4L * j, NATIVE);
                acc = v.fma(FloatVector.fromArray(F, p, j), acc);
            }
            float o = 0f;
            for (int k = 0; k < L; k++) {
                o += acc.lane(k);
            }
            for (; j < n; j++) {
                o = Math.fma(vt.get(F32, row + 4L * j), p[j], o);
            }
            out.setAtIndex(F32, outAt + d, o * inv);
        }
    }
}
