package ringattn.model.linalg;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import ringattn.engine.concurrent.WorkerPool;
import ringattn.engine.device.Devices;
import ringattn.engine.kernel.Gemm;
import ringattn.engine.tensor.DType;

/**
 * Matrix multiply for linear layers: {@code y[n, m] = x[n, k] · w[m, k]ᵀ} with fp32 activations and
 * fp32 or bf16 weights (Hugging Face {@code [out, in]} layout, used in place from a memory-mapped
 * file), fp32 accumulation. The kernel is chosen once: the engine's register-blocked {@link Gemm}
 * (the attention kernel's micro-kernels, blocked for this machine's vector width and register file)
 * unless the system property {@code ringattn.model.simd} is {@code scalar} or {@code 128|256|512}.
 *
 * <p>With the {@link Gemm}, tokens go in chunks of up to {@link #CHUNK_ROWS} rows (fewer when the
 * chunk's output would pass {@link #C_BYTES}) and input features in blocks of {@link #K_BLOCK}: for
 * each chunk and block, x's block is copied to a {@code float[]} (it then stays near the core), and the
 * output features go in panels of {@code W = gemm.panelWidth()} weight rows spread over the pool,
 * each panel's block widened and transposed ({@link Gemm#packPanel}) and multiplied with all the
 * chunk's tokens into the chunk's output tile, which the next block accumulates onto (the same
 * FMA chain per element as one pass over k). Scratch (x's block, the output tile, per part a row
 * buffer and a panel) is owned by this instance, grown on demand and reused; {@link #multiply} runs
 * one call at a time per instance (it is synchronized), so give each rank its own.
 */
public final class MatMul {
    /** Most token rows per chunk. */
    static final int CHUNK_ROWS = 1024;
    /** Most bytes of a chunk's fp32 output tile (fewer token rows for wide outputs). */
    static final long C_BYTES = 16L << 20;
    /**
     * Input features per block: every panel reads the chunk's block of x (at most 2 MiB, near the
     * core in L2/L3) rather than the whole chunk; long enough that widening bf16 rows stays cheap.
     */
    static final int K_BLOCK = 512;

    private final ScalarMatMul scalar;
    private final Gemm gemm;
    /** x of the current chunk and k block, {@code [rows][kb]}. */
    private float[] xBlock = new float[0];
    /** The current chunk's output, {@code [rows][panels·W]}, accumulated over the k blocks. */
    private float[] cChunk = new float[0];
    private Part[] parts = new Part[0];

    /** Per-part scratch: W weight rows of one k block, and their panel. */
    private static final class Part {
        float[] rows = new float[0];
        float[] panel = new float[0];
    }

    private MatMul(ScalarMatMul scalar, Gemm gemm) {
        this.scalar = scalar;
        this.gemm = gemm;
    }

    /** The kernel for {@code bits}: 0 = automatic (property, then the preferred width), -1 = scalar, or 128/256/512. */
    public static MatMul create(int bits) {
        return create(bits, 0);
    }

    /**
     * The kernel for {@code bits} (as {@link #create(int)}) blocked for {@code registers} vector
     * registers (0: this machine's register file, else 16 or 32).
     */
    public static MatMul create(int bits, int registers) {
        if (bits == 0) {
            String p = System.getProperty("ringattn.model.simd", "auto");
            if (p.equals("scalar")) {
                bits = -1;
            } else if (!p.equals("auto")) {
                try {
                    bits = Integer.parseInt(p);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("ringattn.model.simd: expected auto, scalar, 128, 256 or 512, got '" + p + "'");
                }
            } else if (!Devices.probe("simd").available()) {
                bits = -1;
            }
        }
        return switch (bits) {
            case -1 -> new MatMul(new ScalarMatMul(), null);
            case 0, 128, 256, 512 -> new MatMul(null, Devices.gemm(bits, registers));
            default -> throw new IllegalArgumentException("simd bits: expected -1 (scalar), 0, 128, 256 or 512, got " + bits);
        };
    }

    /** {@code scalar} or {@code panama-<bits>r<registers>}. */
    public String name() {
        return gemm == null ? scalar.name() : gemm.name();
    }

    /**
     * {@code y = x · wᵀ}: x {@code [n, k]} fp32, w {@code [m, k]} of {@code wType}, y {@code [n, m]}
     * fp32 (overwritten; nothing else written). Output rows are split over {@code pool}.
     */
    public synchronized void multiply(MemorySegment x, int n, int k, MemorySegment w, DType wType, int m, MemorySegment y,
                                      WorkerPool pool) {
        if (n < 0 || k < 1 || m < 0) {
            throw new IllegalArgumentException("matmul: expected n >= 0, k >= 1, m >= 0, got n " + n + ", k " + k + ", m " + m);
        }
        if (x.byteSize() < 4L * n * k || w.byteSize() < (long) wType.byteSize() * m * k || y.byteSize() < 4L * n * m) {
            throw new IllegalArgumentException("matmul: segments too small for x [" + n + ", " + k + "], w [" + m + ", "
                    + k + "] " + wType + ", y [" + n + ", " + m + "] (bytes " + x.byteSize() + ", " + w.byteSize() + ", "
                    + y.byteSize() + ")");
        }
        if (n == 0 || m == 0) {
            return;
        }
        boolean bf16 = wType == DType.BF16;
        if (gemm == null) {
            int tiles = (m + ScalarMatMul.TILE - 1) / ScalarMatMul.TILE;
            int parts = Math.min(tiles, pool.size());
            pool.run(parts, (p, worker) -> {
                int from = (int) ((long) tiles * p / parts) * ScalarMatMul.TILE;
                int to = Math.min(m, (int) ((long) tiles * (p + 1) / parts) * ScalarMatMul.TILE);
                scalar.multiply(x, n, k, w, bf16, m, y, from, to);
            });
            return;
        }
        int width = gemm.panelWidth();
        int panels = (m + width - 1) / width;
        int cStride = panels * width;
        int kBlock = Math.min(k, K_BLOCK);
        int chunk = (int) Math.max(1, Math.min(Math.min(CHUNK_ROWS, n), C_BYTES / (4L * cStride)));
        int partCount = Math.min(panels, pool.size());
        if (parts.length < partCount) {
            parts = Arrays.copyOf(parts, partCount);
        }
        xBlock = grow(xBlock, (long) chunk * kBlock);
        cChunk = grow(cChunk, (long) chunk * cStride);
        for (int p = 0; p < partCount; p++) {
            if (parts[p] == null) {
                parts[p] = new Part();
            }
            parts[p].rows = grow(parts[p].rows, (long) width * kBlock);
            parts[p].panel = grow(parts[p].panel, (long) width * kBlock);
        }
        long wRowBytes = (long) wType.byteSize() * k;
        for (int t0 = 0; t0 < n; t0 += chunk) {
            int rows = Math.min(chunk, n - t0);
            for (int k0 = 0; k0 < k; k0 += kBlock) {
                int kb = Math.min(kBlock, k - k0);
                for (int r = 0; r < rows; r++) {
                    MemorySegment.copy(x, Layouts.F32_LE, 4L * ((long) (t0 + r) * k + k0), xBlock, r * kb, kb);
                }
                long wOffset = (long) k0 * wType.byteSize();
                boolean accumulate = k0 > 0;
                pool.run(partCount, (p, worker) -> {
                    Part s = parts[p];
                    int from = (int) ((long) panels * p / partCount);
                    int to = (int) ((long) panels * (p + 1) / partCount);
                    for (int panel = from; panel < to; panel++) {
                        int o0 = panel * width;
                        gemm.packPanel(w, o0 * wRowBytes + wOffset, wRowBytes, bf16, Math.min(width, m - o0), kb, s.rows, s.panel, 0);
                        gemm.multiply(accumulate, xBlock, 0, kb, rows, kb, s.panel, 0, width * kb, cChunk, o0, cStride, width);
                    }
                });
            }
            for (int r = 0; r < rows; r++) {
                MemorySegment.copy(cChunk, r * cStride, y, Layouts.F32_LE, 4L * (t0 + r) * m, m);
            }
        }
    }

    private static float[] grow(float[] a, long n) {
        if (n > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("matmul: scratch of " + n + " floats exceeds a Java array");
        }
        return a.length >= n ? a : new float[(int) n];
    }
}
