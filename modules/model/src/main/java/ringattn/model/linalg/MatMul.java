package ringattn.model.linalg;

import java.lang.foreign.MemorySegment;
import ringattn.engine.tensor.DType;

/**
 * Matrix multiply for linear layers: {@code y[n, m] = x[n, k] · w[m, k]ᵀ} with fp32 activations and
 * fp32 or bf16 weights (Hugging Face {@code [out, in]} layout, used in place from a memory-mapped
 * file), fp32 accumulation. The kernel is chosen once: the Vector API at the preferred width unless
 * the system property {@code ringattn.model.simd} is {@code scalar} or {@code 128|256|512}.
 * Thread-safe (stateless apart from the choice).
 */
public final class MatMul {
    private final MatMulKernel kernel;

    private MatMul(MatMulKernel kernel) {
        this.kernel = kernel;
    }

    /** The kernel for {@code bits}: 0 = automatic (property, then the preferred width), -1 = scalar, or 128/256/512. */
    public static MatMul create(int bits) {
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
            } else {
                bits = Math.min(512, Math.max(128, jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.vectorBitSize()));
            }
        }
        return new MatMul(switch (bits) {
            case -1 -> new ScalarMatMul();
            case 128 -> new MatMul128();
            case 256 -> new MatMul256();
            case 512 -> new MatMul512();
            default -> throw new IllegalArgumentException("simd bits: expected -1 (scalar), 0, 128, 256 or 512, got " + bits);
        });
    }

    /** {@code scalar} or {@code panama-<bits>}. */
    public String name() {
        return kernel.name();
    }

    /**
     * {@code y = x · wᵀ}: x {@code [n, k]} fp32, w {@code [m, k]} of {@code wType}, y {@code [n, m]}
     * fp32 (overwritten). Output rows are split over {@code pool}.
     */
    public void multiply(MemorySegment x, int n, int k, MemorySegment w, DType wType, int m, MemorySegment y, Workers pool) {
        if (x.byteSize() < 4L * n * k || w.byteSize() < (long) wType.byteSize() * m * k || y.byteSize() < 4L * n * m) {
            throw new IllegalArgumentException("matmul: segments too small for x [" + n + ", " + k + "], w [" + m + ", "
                    + k + "] " + wType + ", y [" + n + ", " + m + "] (bytes " + x.byteSize() + ", " + w.byteSize() + ", "
                    + y.byteSize() + ")");
        }
        if (n == 0 || m == 0) {
            return;
        }
        boolean bf16 = wType == DType.BF16;
        int tiles = (m + MatMulKernel.TILE - 1) / MatMulKernel.TILE;
        int parts = Math.min(tiles, pool.threads());
        pool.parallelFor(parts, p -> {
            int from = (int) ((long) tiles * p / parts) * MatMulKernel.TILE;
            int to = Math.min(m, (int) ((long) tiles * (p + 1) / parts) * MatMulKernel.TILE);
            kernel.multiply(x, n, k, w, bf16, m, y, from, to);
        });
    }
}
