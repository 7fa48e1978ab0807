package ringattn.engine.kernel;

import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;

/**
 * Chooses a {@link BlockKernel} implementation. The Vector API is probed once per JVM (system
 * property {@code ringattn.kernel=auto|simd|scalar}, module {@code jdk.incubator.vector} present,
 * class loads); the result and its reason are logged once. Thread-safe.
 */
public final class Kernels {
    private static final System.Logger LOG = System.getLogger("ringattn.kernel");
    private static final String SIMD_CLASS = "ringattn.engine.kernel.simd.PanamaKernel";
    private static volatile Probe probe;

    /** Whether the Vector API kernel can be used in this JVM, and why not when it cannot. */
    public record Probe(boolean simdAvailable, String reason) {
    }

    private Kernels() {
    }

    /** The probe result (computed once). */
    public static Probe probe() {
        Probe p = probe;
        if (p == null) {
            synchronized (Kernels.class) {
                p = probe;
                if (p == null) {
                    p = doProbe();
                    probe = p;
                    LOG.log(System.Logger.Level.INFO, "ringattn kernel: "
                            + (p.simdAvailable() ? "Vector API available (" + p.reason() + ")" : "scalar (" + p.reason() + ")"));
                }
            }
        }
        return p;
    }

    private static Probe doProbe() {
        boolean present = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
        if (!present) {
            return new Probe(false, "module jdk.incubator.vector not resolved: pass --add-modules jdk.incubator.vector");
        }
        try {
            Class<?> c = Class.forName(SIMD_CLASS);
            String species = (String) c.getMethod("preferredSpecies").invoke(null);
            return new Probe(true, species);
        } catch (ReflectiveOperationException | LinkageError e) {
            Throwable cause = e instanceof InvocationTargetException ite ? ite.getCause() : e;
            return new Probe(false, "Vector API kernel failed to load: " + cause);
        }
    }

    /**
     * A kernel for {@code options}: {@code scalar}, {@code simd} (fails with a message when the Vector
     * API is unavailable) or {@code auto} (system property {@code ringattn.kernel} first, then SIMD
     * when available, else scalar).
     */
    public static BlockKernel create(KernelOptions options) {
        String impl = options.impl();
        if (impl.equals("auto")) {
            impl = System.getProperty("ringattn.kernel", "auto");
            if (!impl.equals("auto") && !impl.equals("simd") && !impl.equals("scalar")) {
                throw new IllegalArgumentException("ringattn.kernel: expected auto, simd or scalar, got '" + impl + "'");
            }
        }
        if (impl.equals("scalar")) {
            return new ScalarKernel(options);
        }
        Probe p = probe();
        if (!p.simdAvailable()) {
            if (impl.equals("simd")) {
                throw new IllegalStateException("kernel simd: unavailable, " + p.reason());
            }
            return new ScalarKernel(options);
        }
        int bits = options.simdBits();
        if (bits == 0) {
            bits = Integer.getInteger("ringattn.simd.bits", 0);
            options = options.withSimdBits(bits);
        }
        return (BlockKernel) newSimd("kernel simd", SIMD_CLASS, new Class<?>[] {KernelOptions.class}, options);
    }

    /**
     * A new instance of the Vector API class {@code className} (loaded by name, so that this
     * package needs no Vector API type); its runtime exceptions pass through, anything else becomes
     * an IllegalStateException prefixed with {@code what}.
     */
    private static Object newSimd(String what, String className, Class<?>[] types, Object... args) {
        try {
            Constructor<?> ctor = Class.forName(className).getConstructor(types);
            return ctor.newInstance(args);
        } catch (InvocationTargetException e) {
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw new IllegalStateException(what + ": " + e.getCause(), e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(what + ": " + e, e);
        }
    }

    private static final String GEMM_CLASS = "ringattn.engine.kernel.simd.PanamaGemm";

    /**
     * The Vector API matrix multiply ({@link Gemm}) for {@code bits}-bit vectors (0: the system
     * property {@code ringattn.simd.bits}, else the preferred width) and {@code registers} vector
     * registers (0: this machine's register file, else 16 or 32): the attention kernel's register
     * blocks, for other modules' dense layers.
     *
     * @throws IllegalStateException when the Vector API is unavailable (the message says why and
     *                               what to pass)
     * @throws IllegalArgumentException naming the argument, for an unsupported width or register count
     */
    public static Gemm gemm(int bits, int registers) {
        if (bits != 0 && bits != 128 && bits != 256 && bits != 512) {
            throw new IllegalArgumentException("bits: expected 0, 128, 256 or 512, got " + bits);
        }
        if (registers != 0 && registers != 16 && registers != 32) {
            throw new IllegalArgumentException("registers: expected 0, 16 or 32, got " + registers);
        }
        Probe p = probe();
        if (!p.simdAvailable()) {
            throw new IllegalStateException("gemm: Vector API unavailable, " + p.reason());
        }
        int b = bits == 0 ? Integer.getInteger("ringattn.simd.bits", 0) : bits;
        return (Gemm) newSimd("gemm", GEMM_CLASS, new Class<?>[] {int.class, int.class}, b, registers);
    }
}
