package ringattn.model.linalg;

import java.lang.foreign.MemorySegment;
import ringattn.engine.tensor.DType;

/** The plain-Java kernel: the fallback without the Vector API and the comparison in tests. */
final class ScalarMatMul extends MatMulKernel {
    @Override
    String name() {
        return "scalar";
    }

    @Override
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
