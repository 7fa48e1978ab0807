package ringattn.engine.kernel.simd;

import java.util.Optional;
import ringattn.engine.device.Availability;
import ringattn.engine.device.KernelProvider;
import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.Gemm;
import ringattn.engine.kernel.KernelOptions;

/**
 * The {@code simd} CPU kernels: {@link PanamaKernel} and its {@link PanamaGemm}, on the Vector API.
 * Found by {@link ringattn.engine.device.Devices} through {@link java.util.ServiceLoader} (the
 * engine's {@code provides}, or {@code META-INF/services} on the class path). No vector type is
 * touched before {@link #probe()} has found module {@code jdk.incubator.vector}, so a JVM started
 * without {@code --add-modules jdk.incubator.vector} loads this class, gets the reason and falls back
 * to the scalar kernel. Vector width: {@link KernelOptions#simdBits()}, else the system property
 * {@value #BITS_PROPERTY}, else the preferred species; register file: {@link VectorShape}.
 * Stateless and thread-safe.
 */
public final class PanamaKernelProvider implements KernelProvider {
    /** The system property that forces the vector width (128, 256 or 512 bits) where none is given. */
    static final String BITS_PROPERTY = "ringattn.simd.bits";
    private static final String MODULE = "jdk.incubator.vector";

    /** For {@link java.util.ServiceLoader}. */
    public PanamaKernelProvider() {
    }

    @Override
    public String name() {
        return "simd";
    }

    @Override
    public String device() {
        return "cpu";
    }

    @Override
    public Availability probe() {
        if (ModuleLayer.boot().findModule(MODULE).isEmpty()) {
            return Availability.no("module " + MODULE + " not resolved: pass --add-modules " + MODULE);
        }
        try {
            return Availability.yes(PanamaKernel.preferredSpecies());
        } catch (RuntimeException | LinkageError e) {
            return Availability.no("Vector API kernel failed to load: " + e);
        }
    }

    @Override
    public BlockKernel create(KernelOptions options) {
        return new PanamaKernel(options.simdBits() == 0 ? options.withSimdBits(propertyBits()) : options);
    }

    @Override
    public Optional<Gemm> gemm(int bits, int registers) {
        return Optional.of(new PanamaGemm(bits == 0 ? propertyBits() : bits, registers));
    }

    /** {@value #BITS_PROPERTY} (128, 256 or 512), or 0 when unset. */
    private static int propertyBits() {
        String value = System.getProperty(BITS_PROPERTY);
        if (value == null || value.isBlank()) {
            return 0;
        }
        return switch (value.trim()) {
            case "128" -> 128;
            case "256" -> 256;
            case "512" -> 512;
            default -> throw new IllegalArgumentException(BITS_PROPERTY + ": expected 128, 256 or 512, got '" + value + "'");
        };
    }
}
