package ringattn.engine.device;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.Gemm;
import ringattn.engine.kernel.KernelOptions;

/**
 * The one place kernels are chosen: every {@link KernelProvider} on the module path (or class path)
 * — the engine's CPU kernels {@code simd} (Vector API) and {@code scalar}, and accelerators such as
 * {@code cuda} from other modules — is found once per JVM, probed at most once, and each choice is
 * logged once with its reason ({@code ringattn device: cpu, kernel simd (requested; 256-bit vectors,
 * …)}).
 *
 * <p>Devices: {@code cpu} is the CPU kernel picked by {@link KernelOptions#impl()} when it is not
 * {@code auto}, else by the system property {@code ringattn.kernel} ({@code auto|simd|scalar}) when
 * set, else the Vector API when usable and the scalar kernel otherwise. An accelerator name
 * ({@code cuda}) is its provider, or a {@link DeviceUnavailableException} saying what is missing.
 * {@code auto} is the first usable accelerator, else {@code cpu}. Thread-safe.
 */
public final class Devices {
    private Devices() {
    }

    /**
     * A kernel, the device it computes on, the provider that made it ({@code simd}, {@code scalar},
     * {@code cuda}) and why it was chosen. The caller owns (closes) the kernel.
     */
    public record Selection(BlockKernel kernel, String device, String provider, String reason) {
    }

    /** The JVM's providers, found on first use. */
    private static final class Holder {
        static final ProviderRegistry JVM = new ProviderRegistry(load(), System.getLogger("ringattn.device"));
    }

    /**
     * The providers that {@link ServiceLoader} finds through the thread's context class loader, then
     * through the engine's own (so the CPU kernels are there whatever the context loader sees);
     * the first of each name is kept, in the order found.
     */
    private static List<KernelProvider> load() {
        Map<String, KernelProvider> byName = new LinkedHashMap<>();
        for (ClassLoader loader : new ClassLoader[] {Thread.currentThread().getContextClassLoader(),
                Devices.class.getClassLoader()}) {
            ServiceLoader.load(KernelProvider.class, loader).forEach(p -> byName.putIfAbsent(p.name(), p));
        }
        return new ArrayList<>(byName.values());
    }

    /** Every provider, CPU kernels included, in order of preference. */
    public static List<KernelProvider> providers() {
        return Holder.JVM.providers();
    }

    /** The providers of accelerators (devices other than {@code cpu}), in order. */
    public static List<KernelProvider> accelerators() {
        return Holder.JVM.accelerators();
    }

    /**
     * Probes (once per JVM) the provider named {@code name} ({@code simd}, {@code scalar},
     * {@code cuda}); "no … support in this build" when no module provides it.
     */
    public static Availability probe(String name) {
        return Holder.JVM.probe(name);
    }

    /**
     * Selects a kernel for {@code device} ({@code auto}, {@code cpu} or an accelerator name; see the
     * class comment) made with {@code options}.
     *
     * @throws IllegalArgumentException   for a blank device, or a CPU kernel name
     *                                    ({@code options.impl()}, {@code ringattn.kernel}) that no
     *                                    provider has (the message names the option and the known ones)
     * @throws DeviceUnavailableException when an accelerator or CPU kernel was named explicitly and
     *                                    cannot be used, or no provider has {@code device} (says why)
     */
    public static Selection select(String device, KernelOptions options) {
        return Holder.JVM.select(device, options);
    }

    /**
     * The register-blocked fp32 matrix multiply ({@link Gemm}) of the first usable CPU kernel that
     * has one (the Vector API's), for {@code bits}-bit vectors (0: the system property
     * {@code ringattn.simd.bits}, else the preferred width) and {@code registers} vector registers
     * (0: this machine's register file, else 16 or 32): the attention kernel's register blocks, for
     * other modules' dense layers.
     *
     * @throws IllegalArgumentException   naming the argument, for an unsupported width or register count
     * @throws DeviceUnavailableException when no usable CPU kernel has one (the message says why and
     *                                    what to pass)
     */
    public static Gemm gemm(int bits, int registers) {
        return Holder.JVM.gemm(bits, registers);
    }
}
