package ringattn.model.linalg;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The element-wise steps of a decoder layer on fp32 rows (RMSNorm, SwiGLU's {@code silu(g)·u},
 * residual add, the RoPE rotation), with the Vector API at the preferred width and scalar tails.
 * Every method has the same meaning as its one-line scalar formula; tests compare them.
 */
public final class RowOps {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private RowOps() {
    }

    /**
     * {@code out[t, i] = x[t, i] / sqrt(mean_i(x[t, i]²) + eps) · weight[i]} for {@code rows} rows
     * of {@code d} floats ({@code out} may be {@code x}).
     */
    public static void rmsNorm(MemorySegment x, MemorySegment out, int rows, int d, float[] weight, float eps) {
        int bound = F.loopBound(d);
        for (int t = 0; t < rows; t++) {
            long base = 4L * t * d;
            FloatVector acc = FloatVector.zero(F);
            int i = 0;
            for (; i < bound; i += L) {
                FloatVector v = FloatVector.fromMemorySegment(F, x, base + 4L * i, LE);
                acc = v.fma(v, acc);
            }
            float ss = acc.reduceLanes(VectorOperators.ADD);
            for (; i < d; i++) {
                float v = x.get(Layouts.F32_LE, base + 4L * i);
                ss = Math.fma(v, v, ss);
            }
            float inv = (float) (1.0 / Math.sqrt(ss / d + eps));
            i = 0;
            for (; i < bound; i += L) {
                FloatVector v = FloatVector.fromMemorySegment(F, x, base + 4L * i, LE);
                v.mul(inv).mul(FloatVector.fromArray(F, weight, i)).intoMemorySegment(out, base + 4L * i, LE);
            }
            for (; i < d; i++) {
                out.set(Layouts.F32_LE, base + 4L * i, x.get(Layouts.F32_LE, base + 4L * i) * inv * weight[i]);
            }
        }
    }

    /** {@code gate[i] = silu(gate[i]) · up[i]} with {@code silu(g) = g / (1 + e^−g)}, for {@code count} floats. */
    public static void siluMul(MemorySegment gate, MemorySegment up, long count) {
        long bound = count - count % L;
        long i = 0;
        for (; i < bound; i += L) {
            FloatVector g = FloatVector.fromMemorySegment(F, gate, 4 * i, LE);
            FloatVector u = FloatVector.fromMemorySegment(F, up, 4 * i, LE);
            FloatVector e = g.neg().lanewise(VectorOperators.EXP);
            g.div(e.add(1f)).mul(u).intoMemorySegment(gate, 4 * i, LE);
        }
        for (; i < count; i++) {
            float g = gate.getAtIndex(Layouts.F32_LE, i);
            gate.setAtIndex(Layouts.F32_LE, i, g / (1f + (float) Math.exp(-g)) * up.getAtIndex(Layouts.F32_LE, i));
        }
    }

    /** {@code acc[i] += add[i]} for {@code count} floats. */
    public static void addInto(MemorySegment acc, MemorySegment add, long count) {
        long bound = count - count % L;
        long i = 0;
        for (; i < bound; i += L) {
            FloatVector.fromMemorySegment(F, acc, 4 * i, LE).add(FloatVector.fromMemorySegment(F, add, 4 * i, LE))
                    .intoMemorySegment(acc, 4 * i, LE);
        }
        for (; i < count; i++) {
            acc.setAtIndex(Layouts.F32_LE, i, acc.getAtIndex(Layouts.F32_LE, i) + add.getAtIndex(Layouts.F32_LE, i));
        }
    }

    /**
     * The RoPE rotation of one head ({@code rotate_half} pairing): for {@code i < half}, with
     * {@code c = cos[off+i]}, {@code s = sin[off+i]}, {@code x1 = x[i]}, {@code x2 = x[i+half]}:
     * {@code x[i] = x1·c − x2·s}, {@code x[i+half] = x2·c + x1·s}. {@code x} starts at byte
     * {@code baseBytes}.
     */
    public static void rotateHalf(MemorySegment x, long baseBytes, int half, float[] cos, float[] sin, int off) {
        int bound = F.loopBound(half);
        long hi = baseBytes + 4L * half;
        int i = 0;
        for (; i < bound; i += L) {
            FloatVector x1 = FloatVector.fromMemorySegment(F, x, baseBytes + 4L * i, LE);
            FloatVector x2 = FloatVector.fromMemorySegment(F, x, hi + 4L * i, LE);
            FloatVector c = FloatVector.fromArray(F, cos, off + i);
            FloatVector s = FloatVector.fromArray(F, sin, off + i);
            x1.mul(c).sub(x2.mul(s)).intoMemorySegment(x, baseBytes + 4L * i, LE);
            x2.mul(c).add(x1.mul(s)).intoMemorySegment(x, hi + 4L * i, LE);
        }
        for (; i < half; i++) {
            float c = cos[off + i];
            float s = sin[off + i];
            float x1 = x.get(Layouts.F32_LE, baseBytes + 4L * i);
            float x2 = x.get(Layouts.F32_LE, hi + 4L * i);
            x.set(Layouts.F32_LE, baseBytes + 4L * i, x1 * c - x2 * s);
            x.set(Layouts.F32_LE, hi + 4L * i, x2 * c + x1 * s);
        }
    }
}
