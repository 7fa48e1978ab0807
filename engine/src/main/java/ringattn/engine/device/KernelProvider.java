package ringattn.engine.device;

import java.util.Optional;
import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.Gemm;
import ringattn.engine.kernel.KernelOptions;

/**
 * A service that makes {@link BlockKernel}s of one technology: the engine's CPU kernels
 * ({@code simd}: the Vector API, {@code scalar}: plain Java) and accelerators from other modules
 * ({@code cuda}). Found with {@link java.util.ServiceLoader} and chosen by {@link Devices}, which
 * calls {@link #probe()} at most once per JVM. Implementations must be cheap to construct and touch
 * nothing optional (a native library, an incubator module) before {@link #probe()}. Thread-safe.
 */
public interface KernelProvider {
    /**
     * The name users select, lower case and unique: {@code simd}, {@code scalar}
     * ({@code KernelOptions.impl}, the system property {@code ringattn.kernel}) or {@code cuda}
     * ({@code --device cuda}).
     */
    String name();

    /** The device the kernels compute on, lower case: {@code cpu}, or an accelerator ({@code cuda}). */
    String device();

    /** Whether the kernels can run here, and why not (modules, libraries and paths tried, driver status). */
    Availability probe();

    /** A kernel; only called after {@link #probe()} said available. The caller closes it. */
    BlockKernel create(KernelOptions options);

    /**
     * The register-blocked fp32 matrix multiply of these kernels, for other modules' dense layers,
     * for {@code bits}-bit vectors and {@code registers} vector registers (0: this machine's, as
     * {@link KernelOptions#simdBits()} and {@link KernelOptions#simdRegisters()}); empty when the
     * provider has none (the default). Only called after {@link #probe()} said available.
     */
    default Optional<Gemm> gemm(int bits, int registers) {
        return Optional.empty();
    }
}
