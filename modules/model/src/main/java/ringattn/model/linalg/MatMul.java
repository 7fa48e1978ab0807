package ringattn.model.linalg;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import ringattn.engine.kernel.Gemm;
import ringattn.engine.kernel.Kernels;
import ringattn.engine.tensor.DType;

/**
 * Matrix multiply for linear layers: {@code y[n, m] = x[n, k] · w[m, k]ᵀ} with fp32 activations and
 * fp32 or bf16 weights (Hugging Face {@code [out, in]} layout, used in place from a memory-mapped
 * file), fp32 accumulation. The kernel is chosen once: the engine's register-blocked {@link Gemm}
 * (the attention kernel's micro-kernels, blocked for this machine's vector width and register file)
 * unless the system property {@code ringattn.model.simd} is {@code scalar} or {@code 128|256|512}.
 *
 * <p>With the {@link Gemm}, x is copied in chunks of up to {@link #CHUNK_ROWS} token rows
 * ({@code float[]}, at most {@link #CHUNK_BYTES}); for each chunk the output rows go in panels of
 * {@code W = gemm.panelWidth()} weight rows, spread over the pool: each panel is widened and
 * transposed once per chunk ({@link Gemm#packPanel}) and multiplied with all the chunk's tokens.
 * Scratch (the x chunk; per part a row buffer, a panel and a C tile) is owned by this instance,
 * grown on demand and reused; {@link #multiply} runs one call at a time per instance (it is
 * synchronized), so give each rank its own.
 */
public final class MatMul {
    /** Most token rows of x copied per chunk. */
    static final int CHUNK_ROWS = 1024;
    /** Most bytes of x copied per chunk (fewer rows for long rows). */
    static final long CHUNK_BYTES = 8L << 20;

    private final ScalarMatMul scalar;
    private final Gemm gemm;
    private float[] xChunk = new float[0];
    private Part[] parts = new Part[0];

    /** Per-part scratch: W rows of the weight, their panel, and the C tile [rows][W]. */
    private static final class Part {
        float[] rows = new float[0];
        float[] panel = new float[0];
        float[] c = new float[0];
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
            } else if (!Kernels.probe().simdAvailable()) {
                bits = -1;
            }
        }
        return switch (bits) {
            case -1 -> new MatMul(new ScalarMatMul(), null);
            case 0, 128, 256, 512 -> new MatMul(null, Kernels.gemm(bits, registers));
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
                                      Workers pool) {
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
            int parts = Math.min(tiles, pool.threads());
            pool.parallelFor(parts, p -> {
                int from = (int) ((long) tiles * p / parts) * ScalarMatMul.TILE;
                int to = Math.min(m, (int) ((long) tiles * (p + 1) / parts) * ScalarMatMul.TILE);
                scalar.multiply(x, n, k, w, bf16, m, y, from, to);
            });
            return;
        }
        int chunk = (int) Math.max(1, Math.min(CHUNK_ROWS, Math.min(n, CHUNK_BYTES / (4L * k))));
        int width = gemm.panelWidth();
        int panels = (m + width - 1) / width;
        int partCount = Math.min(panels, pool.threads());
        if (parts.length < partCount) {
            parts = Arrays.copyOf(parts, partCount);
        }
        xChunk = grow(xChunk, (long) chunk * k);
        for (int p = 0; p < partCount; p++) {
            if (parts[p] == null) {
                parts[p] = new Part();
            }
            parts[p].rows = grow(parts[p].rows, (long) width * k);
            parts[p].panel = grow(parts[p].panel, (long) width * k);
            parts[p].c = grow(parts[p].c, (long) chunk * width);
        }
        long wRowBytes = (long) wType.byteSize() * k;
        for (int t0 = 0; t0 < n; t0 += chunk) {
            int rows = Math.min(chunk, n - t0);
            MemorySegment.copy(x, Layouts.F32_LE, 4L * t0 * k, xChunk, 0, rows * k);
            int first = t0;
            pool.parallelFor(partCount, p -> {
                Part s = parts[p];
                int from = (int) ((long) panels * p / partCount);
                int to = (int) ((long) panels * (p + 1) / partCount);
                for (int panel = from; panel < to; panel++) {
                    int o0 = panel * width;
                    int real = Math.min(width, m - o0);
                    gemm.packPanel(w, o0 * wRowBytes, wRowBytes, bf16, real, k, s.rows, s.panel, 0);
                    gemm.multiply(false, xChunk, 0, k, rows, k, s.panel, 0, width * k, s.c, 0, width, width);
                    for (int r = 0; r < rows; r++) {
                        MemorySegment.copy(s.c, r * width, y, Layouts.F32_LE, 4L * ((long) (first + r) * m + o0), real);
                    }
                }
            });
        }
    }

    private static float[] grow(float[] a, long n) {
        if (n > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("matmul: scratch of " + n + " floats exceeds a Java array");
        }
        return a.length >= n ? a : new float[(int) n];
    }
}
