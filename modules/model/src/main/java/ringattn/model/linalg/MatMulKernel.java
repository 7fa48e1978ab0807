package ringattn.model.linalg;

import java.lang.foreign.MemorySegment;

/**
 * A single-threaded kernel for {@code y[t, o] = Σ_i x[t, i] · w[o, i]} over output rows
 * {@code [oFrom, oTo)}: x is {@code [n, k]} fp32, w is {@code [m, k]} fp32 or bf16 (a linear
 * layer's weight as stored by Hugging Face), y is {@code [n, m]} fp32. All little-endian,
 * row-major, no alignment needed.
 */
abstract class MatMulKernel {
    /** Output rows per tile: the weight tile stays in cache while all token blocks pass over it. */
    static final int TILE = 16;
    /** Token rows per block: the block of x stays in cache while the weight tiles pass over it. */
    static final int TOKEN_BLOCK = 64;

    abstract String name();

    abstract void multiply(MemorySegment x, int n, int k, MemorySegment w, boolean bf16, int m,
                           MemorySegment y, int oFrom, int oTo);
}
