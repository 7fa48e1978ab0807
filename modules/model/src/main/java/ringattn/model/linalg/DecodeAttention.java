package ringattn.model.linalg;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The attention of one new query per head over a cache shard, for decoding: every cached key is
 * visible (they all precede the query), so it is one softmax per head, in fp32. The cache is held
 * transposed, {@code [kvHeads, headDim, capacity]} for K and for V, so that the vectors run along the
 * keys whatever the head size: scores {@code s = Σ_d q[d]·K[d][·]} by fused multiply-adds along the
 * keys, {@code p = e^(s − max)} with the vector exp, {@code o[d] = Σ_j p[j]·V[d][j] / Σ_j p[j]}.
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
        int bound = F.loopBound(n);
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
            java.util.Arrays.fill(scores, 0, n, 0f);
            for (int d = 0; d < headDim; d++) {
                float qd = q.getAtIndex(F32, outAt + d) * scale;
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
            FloatVector mv = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
            int j = 0;
            for (; j < bound; j += L) {
                mv = mv.max(FloatVector.fromArray(F, scores, j));
            }
            float m = mv.reduceLanes(VectorOperators.MAX);
            for (; j < n; j++) {
                m = Math.max(m, scores[j]);
            }
            FloatVector mb = FloatVector.broadcast(F, m);
            FloatVector sv = FloatVector.zero(F);
            j = 0;
            for (; j < bound; j += L) {
                FloatVector p = FloatVector.fromArray(F, scores, j).sub(mb).lanewise(VectorOperators.EXP);
                p.intoArray(scores, j);
                sv = sv.add(p);
            }
            float sum = sv.reduceLanes(VectorOperators.ADD);
            for (; j < n; j++) {
                scores[j] = (float) Math.exp(scores[j] - m);
                sum += scores[j];
            }
            float inv = 1f / sum;
            for (int d = 0; d < headDim; d++) {
                long row = 4L * (base + (long) d * capacity);
                FloatVector acc = FloatVector.zero(F);
                j = 0;
                for (; j < bound; j += L) {
                    FloatVector v = FloatVector.fromMemorySegment(F, vt, row + 4L * j, NATIVE);
                    acc = v.fma(FloatVector.fromArray(F, scores, j), acc);
                }
                float o = acc.reduceLanes(VectorOperators.ADD);
                for (; j < n; j++) {
                    o = Math.fma(vt.get(F32, row + 4L * j), scores[j], o);
                }
                out.setAtIndex(F32, outAt + d, o * inv);
            }
            lse.setAtIndex(F32, h, (float) (m + Math.log(sum)));
        }
    }
}
