package ringattn.engine.kernel.simd;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import ringattn.engine.kernel.Gemm;

/**
 * {@link Gemm} over the generated per-shape classes: the same register blocks as the attention
 * kernel ({@link SimdOps#gemm}), the same panel layout, rows widened and transposed into panels
 * with {@link SimdOps#loadRow} and {@link SimdOps#toRowPanels}. Thread-safe (its only state is a
 * per-thread index vector).
 */
public final class PanamaGemm implements Gemm {
    private final SimdOps ops;
    /** Per-thread gather offsets for {@link SimdOps#toRowPanels} (one vector of ints), so that packing allocates nothing. */
    private final ThreadLocal<int[]> index;

    /**
     * The multiply for {@code bits}-bit vectors (0: this machine's preferred width) and
     * {@code registers} (0: this machine's register file, else 16 or 32).
     */
    public PanamaGemm(int bits, int registers) {
        int b = bits == 0 ? SimdOps.preferredBits() : bits;
        this.ops = SimdOps.forShape(b, VectorShape.registersFor(b, registers));
        int lanes = ops.lanes();
        this.index = ThreadLocal.withInitial(() -> new int[lanes]);
    }

    @Override
    public String name() {
        return "panama-" + ops.bits() + "r" + ops.registers();
    }

    @Override
    public int panelWidth() {
        return ops.panel();
    }

    @Override
    public void packPanel(MemorySegment src, long offsetBytes, long rowStrideBytes, boolean bf16, int rows, int k,
                          float[] rowScratch, float[] panel, int panelOff) {
        int w = ops.panel();
        if (rows < 0 || rows > w) {
            throw new IllegalArgumentException("rows: expected 0.." + w + ", got " + rows);
        }
        if (k < 1) {
            throw new IllegalArgumentException("k: must be >= 1, got " + k);
        }
        if (rowScratch.length < (long) w * k) {
            throw new IllegalArgumentException("rowScratch: needs " + (long) w * k + " floats, has " + rowScratch.length);
        }
        if (panelOff < 0 || panel.length - panelOff < (long) w * k) {
            throw new IllegalArgumentException("panel: needs " + (long) w * k + " floats from " + panelOff + ", has " + panel.length);
        }
        long last = offsetBytes + (rows == 0 ? 0 : (rows - 1) * rowStrideBytes + (long) k * (bf16 ? 2 : 4));
        if (offsetBytes < 0 || last > src.byteSize()) {
            throw new IllegalArgumentException("src: rows end at byte " + last + ", past its " + src.byteSize() + " bytes");
        }
        for (int j = 0; j < rows; j++) {
            ops.loadRow(src, offsetBytes + j * rowStrideBytes, ByteOrder.LITTLE_ENDIAN, bf16, k, 1f, rowScratch, j * k);
        }
        java.util.Arrays.fill(rowScratch, rows * k, w * k, 0f);
        ops.toRowPanels(rowScratch, 0, k, w, k, index.get(), panel, panelOff);
    }

    @Override
    public void multiply(boolean accumulate, float[] a, int aOff, int lda, int m, int k, float[] b, int bOff,
                         int panelStride, float[] c, int cOff, int ldc, int n) {
        int w = ops.panel();
        if (m < 0 || k < 1 || n < 0 || n % w != 0) {
            throw new IllegalArgumentException("n: expected a multiple of " + w + " (m " + m + ", k " + k + ", n " + n + ")");
        }
        if (m == 0 || n == 0) {
            return;
        }
        if (aOff < 0 || lda < k || aOff + (long) (m - 1) * lda + k > a.length) {
            throw new IllegalArgumentException("a: " + m + " rows of " + k + " at stride " + lda + " from " + aOff
                    + " exceed its " + a.length + " floats");
        }
        if (bOff < 0 || panelStride < k * w || bOff + (long) (n / w - 1) * panelStride + (long) k * w > b.length) {
            throw new IllegalArgumentException("b: " + n / w + " panels of " + k + " × " + w + " at stride " + panelStride
                    + " from " + bOff + " exceed its " + b.length + " floats");
        }
        if (cOff < 0 || ldc < n || cOff + (long) (m - 1) * ldc + n > c.length) {
            throw new IllegalArgumentException("c: " + m + " rows of " + n + " at stride " + ldc + " from " + cOff
                    + " exceed its " + c.length + " floats");
        }
        ops.gemm(accumulate, a, aOff, lda, 1, m, k, b, bOff, panelStride, c, cOff, ldc, n);
    }
}
