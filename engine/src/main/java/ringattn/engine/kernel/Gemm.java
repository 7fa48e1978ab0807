package ringattn.engine.kernel;

import java.lang.foreign.MemorySegment;

/**
 * The register-blocked fp32 matrix multiply of the Vector API kernels, offered to other modules'
 * dense layers (the model's linear layers) so that one set of micro-kernels, blocked for this
 * machine's vector width and register file, serves both: {@code C[m × n] (+)= A[m × k] · B[k × n]}
 * with A row-major in a {@code float[]}, B packed in panels of {@link #panelWidth()} columns
 * ({@link #packPanel}), C row-major. Every element is one chain of FMAs in k order, so results do
 * not depend on the blocking. Obtained from {@link ringattn.engine.device.Devices#gemm}. Implementations are
 * thread-safe; all offsets, strides and sizes count elements unless named {@code Bytes}.
 */
public interface Gemm {
    /** {@code panama-<bits>r<registers>}, as the attention kernel's name. */
    String name();

    /** Columns of a B panel (4 vectors); {@link #multiply}'s {@code n} is a multiple of it. */
    int panelWidth();

    /**
     * Packs {@code rows ≤ panelWidth()} rows of {@code k} elements of {@code src} (row {@code j} at
     * byte {@code offsetBytes + j·rowStrideBytes}; fp32, or bf16 when {@code bf16}; little-endian)
     * as one B panel {@code panel[panelOff + kk·W + j] = row j, element kk}, {@code W =
     * panelWidth()}, columns {@code j ≥ rows} zero: the panel of {@code B = srcᵀ} (a linear layer's
     * {@code [out, in]} weight gives the B of {@code y = x · wᵀ}). {@code rowScratch} holds at least
     * {@code panelWidth()·k} floats and is overwritten.
     *
     * @throws IllegalArgumentException naming the argument, for sizes out of range
     */
    void packPanel(MemorySegment src, long offsetBytes, long rowStrideBytes, boolean bf16, int rows, int k,
                   float[] rowScratch, float[] panel, int panelOff);

    /**
     * {@code C[m × n] (+)= A[m × k] · B[k × n]}: {@code A[r][kk] = a[aOff + r·lda + kk]}, B in panels
     * ({@code B[kk][j] = b[bOff + (j / W)·panelStride + kk·W + j % W]}), {@code C[r][j] = c[cOff +
     * r·ldc + j]}, {@code n} a multiple of {@link #panelWidth()}. With {@code accumulate} false C is
     * overwritten.
     *
     * @throws IllegalArgumentException naming the argument, for sizes out of range
     */
    void multiply(boolean accumulate, float[] a, int aOff, int lda, int m, int k, float[] b, int bOff, int panelStride,
                  float[] c, int cOff, int ldc, int n);
}
