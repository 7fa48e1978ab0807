package ringattn.engine.device;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import ringattn.engine.kernel.Gemm;
import ringattn.engine.kernel.KernelOptions;

/**
 * A list of {@link KernelProvider}s, each probed at most once, and the rules that choose among
 * them: what {@link Devices} does for the JVM's providers, apart so that tests can hand it their
 * own. Every choice is logged once (per distinct line) to the given logger. Thread-safe.
 */
final class ProviderRegistry {
    static final String AUTO = "auto";
    static final String CPU = "cpu";
    /** The system property that picks the CPU kernel when {@code KernelOptions.impl} is {@code auto}. */
    static final String KERNEL_PROPERTY = "ringattn.kernel";

    private final List<KernelProvider> providers;
    private final System.Logger log;
    private final Map<String, Availability> probes = new ConcurrentHashMap<>();
    private final Map<String, Boolean> logged = new ConcurrentHashMap<>();

    /** A provider and why it was picked. */
    private record Choice(KernelProvider provider, String reason) {
    }

    /** {@code providers} in order of preference (the first usable CPU provider wins); names unique. */
    ProviderRegistry(List<KernelProvider> providers, System.Logger log) {
        this.providers = List.copyOf(providers);
        this.log = log;
    }

    List<KernelProvider> providers() {
        return providers;
    }

    /** The providers of devices other than the CPU, in order. */
    List<KernelProvider> accelerators() {
        return providers.stream().filter(p -> !p.device().equals(CPU)).toList();
    }

    /** Probes (once) the provider named {@code name}; "not in this build" when there is none. */
    Availability probe(String name) {
        return probes.computeIfAbsent(name.toLowerCase(Locale.ROOT), n -> {
            KernelProvider p = named(providers, n);
            if (p == null) {
                return Availability.no("no " + n + " support in this build (no module providing '" + n
                        + "' on the module path)");
            }
            try {
                return p.probe();
            } catch (RuntimeException | LinkageError e) {
                return Availability.no(n + " probe failed: " + e);
            }
        });
    }

    /** See {@link Devices#select}. */
    Devices.Selection select(String device, KernelOptions options) {
        if (device == null || device.isBlank()) {
            throw new IllegalArgumentException("device: expected " + or(deviceNames()) + ", got '" + device + "'");
        }
        String name = device.toLowerCase(Locale.ROOT);
        if (name.equals(CPU)) {
            return cpu(options, "requested");
        }
        if (name.equals(AUTO)) {
            List<String> unusable = new ArrayList<>();
            for (KernelProvider p : accelerators()) {
                Availability a = probe(p.name());
                if (a.available()) {
                    return log(new Devices.Selection(p.create(options), p.device(), p.name(), "auto: " + a.reason()));
                }
                unusable.add(p.name() + ": " + brief(a.reason()));
            }
            return cpu(options, "auto: no accelerator usable"
                    + (unusable.isEmpty() ? " (none installed)" : " (" + String.join("; ", unusable) + ")"));
        }
        List<KernelProvider> onDevice = providers.stream().filter(p -> p.device().equals(name)).toList();
        if (onDevice.isEmpty()) {
            throw new DeviceUnavailableException("device " + name + ": " + probe(name).reason() + "; devices here: "
                    + String.join(", ", deviceNames()));
        }
        List<String> reasons = new ArrayList<>();
        for (KernelProvider p : onDevice) {
            Availability a = probe(p.name());
            if (a.available()) {
                return log(new Devices.Selection(p.create(options), name, p.name(), a.reason()));
            }
            reasons.add(onDevice.size() == 1 ? a.reason() : p.name() + ": " + a.reason());
        }
        throw new DeviceUnavailableException("device " + name + ": " + String.join("; ", reasons));
    }

    /** See {@link Devices#gemm}. */
    Gemm gemm(int bits, int registers) {
        if (bits != 0 && bits != 128 && bits != 256 && bits != 512) {
            throw new IllegalArgumentException("bits: expected 0, 128, 256 or 512, got " + bits);
        }
        if (registers != 0 && registers != 16 && registers != 32) {
            throw new IllegalArgumentException("registers: expected 0, 16 or 32, got " + registers);
        }
        List<String> unusable = new ArrayList<>();
        for (KernelProvider p : onCpu()) {
            Availability a = probe(p.name());
            if (!a.available()) {
                unusable.add(p.name() + ": " + a.reason());
                continue;
            }
            var gemm = p.gemm(bits, registers);
            if (gemm.isPresent()) {
                logOnce("ringattn gemm: " + gemm.get().name() + " (kernel " + p.name() + ")");
                return gemm.get();
            }
        }
        throw new DeviceUnavailableException("gemm: no usable CPU kernel has a matrix multiply"
                + (unusable.isEmpty() ? "" : " (" + String.join("; ", unusable) + ")"));
    }

    /**
     * The CPU kernel for {@code options}: {@code impl} when not {@code auto}, else the system
     * property {@value #KERNEL_PROPERTY} when set and not {@code auto}, else the first usable CPU
     * provider. {@code why} starts the selection's reason.
     */
    private Devices.Selection cpu(KernelOptions options, String why) {
        Choice c = cpuChoice(options);
        return log(new Devices.Selection(c.provider().create(options), CPU, c.provider().name(), why + "; " + c.reason()));
    }

    private Choice cpuChoice(KernelOptions options) {
        List<KernelProvider> cpu = onCpu();
        String option = "impl";
        String wanted = options.impl().toLowerCase(Locale.ROOT);
        String property = System.getProperty(KERNEL_PROPERTY);
        if (wanted.equals(AUTO) && property != null && !property.isBlank()) {
            option = KERNEL_PROPERTY;
            wanted = property.trim().toLowerCase(Locale.ROOT);
        }
        if (!wanted.equals(AUTO)) {
            KernelProvider p = named(cpu, wanted);
            if (p == null) {
                List<String> names = new ArrayList<>(List.of(AUTO));
                cpu.forEach(k -> names.add(k.name()));
                throw new IllegalArgumentException(option + ": expected " + or(names) + ", got '" + wanted + "'");
            }
            Availability a = probe(p.name());
            if (!a.available()) {
                throw new DeviceUnavailableException("kernel " + wanted + " (" + option + "): unavailable, " + a.reason());
            }
            return new Choice(p, option + "=" + wanted + ", " + a.reason());
        }
        List<String> unusable = new ArrayList<>();
        for (KernelProvider p : cpu) {
            Availability a = probe(p.name());
            if (a.available()) {
                return new Choice(p, a.reason() + (unusable.isEmpty() ? "" : " (" + String.join("; ", unusable) + ")"));
            }
            unusable.add(p.name() + " unavailable: " + a.reason());
        }
        throw new DeviceUnavailableException("device cpu: no usable CPU kernel ("
                + (unusable.isEmpty() ? "no provider of device cpu found" : String.join("; ", unusable)) + ")");
    }

    private List<KernelProvider> onCpu() {
        return providers.stream().filter(p -> p.device().equals(CPU)).toList();
    }

    /** {@code auto}, {@code cpu} and the accelerators' device names, in order, without repeats. */
    private List<String> deviceNames() {
        List<String> names = new ArrayList<>(List.of(AUTO, CPU));
        accelerators().forEach(p -> {
            if (!names.contains(p.device())) {
                names.add(p.device());
            }
        });
        return names;
    }

    private static KernelProvider named(List<KernelProvider> list, String name) {
        for (KernelProvider p : list) {
            if (p.name().equals(name)) {
                return p;
            }
        }
        return null;
    }

    /** {@code a}, {@code a or b}, {@code a, b or c}. */
    private static String or(List<String> names) {
        int n = names.size();
        return n == 1 ? names.getFirst() : String.join(", ", names.subList(0, n - 1)) + " or " + names.get(n - 1);
    }

    /** The first clause of a probe's reason (the full text is in the explicit-device error). */
    static String brief(String reason) {
        int cut = reason.length();
        for (String stop : new String[] {"; ", " (tried"}) {
            int i = reason.indexOf(stop);
            if (i > 0) {
                cut = Math.min(cut, i);
            }
        }
        String head = reason.substring(0, Math.min(cut, 200));
        return head.length() < reason.length() ? head + " …" : head;
    }

    private Devices.Selection log(Devices.Selection s) {
        logOnce("ringattn device: " + s.device() + ", kernel " + s.provider() + " (" + s.reason() + ")");
        return s;
    }

    private void logOnce(String line) {
        if (logged.putIfAbsent(line, Boolean.TRUE) == null) {
            log.log(System.Logger.Level.INFO, line);
        }
    }
}
