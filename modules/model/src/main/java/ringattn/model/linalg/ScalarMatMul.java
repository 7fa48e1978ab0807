package ringattn.model.linalg;

import java.lang.foreign.MemorySegment;
import ringattn.engine.tensor.DType;

/**
 * The plain-Java kernel: the fallback without the Vector API and the comparison in tests.
 * {@code y[t, o] = Σ_i x[t, i] · w[o, i]} over output rows {@code [oFrom, oTo)}: x is
 * {@code [n, k]} fp32, w is {@code [m, k]} fp32 or bf16, y is {@code [n, m]} fp32; little-endian,
 * row-major. Stateless and thread-safe.
 */
final class ScalarMatMul {
    /** Output rows per task of {@link MatMul}'s split over the pool. */
    static final int TILE = 16;

    String name() {
        return "scalar";
    }

    void multiply(MemorySegment x, int n, int k, MemorySegment w, boolean bf16, int m,
                  MemorySegment y, int oFrom, int oTo) {
        for (int t = 0; t < n; t++) {
            long xr = (long) t * k;
            for (int o = oFrom; o < oTo; o++) {
                long wr = (long) o * k;
                float s = 0;
                for (int i = 0; i < k; i++) {
                    float wv = bf16 ? DType.bf16ToFloat(w.getAtIndex(Layouts.BF16_LE, wr + i))
                            : w.getAtIndex(Layouts.F32_LE, wr + i);
                    s = Math.fma(x.getAtIndex(Layouts.F32_LE, xr + i), wv, s);
                }
                y.setAtIndex(Layouts.F32_LE, (long) t * m + o, s);
            }
        }
    }
}
