package ringattn.engine.device;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.concurrent.ConcurrentHashMap;
import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.KernelOptions;
import ringattn.engine.kernel.Kernels;

/**
 * Chooses the device a rank computes on. {@code cpu}: the CPU kernel ({@link Kernels}). A device
 * name such as {@code cuda}: its {@link KernelProvider}, or a {@link DeviceUnavailableException}
 * saying what is missing. {@code auto}: the first available accelerator, else the CPU. Each
 * provider is probed once per JVM and the choice is logged once. Thread-safe.
 */
public final class Devices {
    private static final System.Logger LOG = System.getLogger("ringattn.device");
    private static final Map<String, Availability> PROBES = new ConcurrentHashMap<>();
    private static final Map<String, Boolean> LOGGED = new ConcurrentHashMap<>();

    private Devices() {
    }

    /** A kernel and the reason it was chosen. The caller owns (closes) the kernel. */
    public record Selection(BlockKernel kernel, String device, String reason) {
    }

    /** The accelerator providers on the module path (or class path). */
    public static List<KernelProvider> providers() {
        List<KernelProvider> list = new ArrayList<>();
        ServiceLoader.load(KernelProvider.class).forEach(list::add);
        return list;
    }

    /** Probes (once) the provider of {@code device}; "not installed" when no module provides it. */
    public static Availability probe(String device) {
        String name = device.toLowerCase(Locale.ROOT);
        return PROBES.computeIfAbsent(name, n -> {
            for (KernelProvider p : providers()) {
                if (p.device().equals(n)) {
                    try {
                        return p.probe();
                    } catch (RuntimeException | LinkageError e) {
                        return Availability.no(n + " probe failed: " + e);
                    }
                }
            }
            return Availability.no("no " + n + " support in this build (module providing device '" + n
                    + "' not on the module path)");
        });
    }

    /**
     * Selects a kernel for {@code device} ({@code auto}, {@code cpu} or an accelerator name).
     *
     * @throws IllegalArgumentException    for an empty device name
     * @throws DeviceUnavailableException  when an accelerator was named explicitly and cannot be used
     */
    public static Selection select(String device, KernelOptions options) {
        if (device == null || device.isBlank()) {
            throw new IllegalArgumentException("device: expected auto, cpu or cuda, got '" + device + "'");
        }
        String name = device.toLowerCase(Locale.ROOT);
        if (name.equals("cpu")) {
            return log(new Selection(Kernels.create(options), "cpu", "requested"));
        }
        if (name.equals("auto")) {
            StringBuilder why = new StringBuilder();
            for (KernelProvider p : providers()) {
                Availability a = probe(p.device());
                if (a.available()) {
                    return log(new Selection(p.create(options), p.device(), "auto: " + a.reason()));
                }
                why.append(why.isEmpty() ? "" : "; ").append(p.device()).append(": ").append(brief(a.reason()));
            }
            return log(new Selection(Kernels.create(options), "cpu",
                    "auto: no accelerator usable" + (why.isEmpty() ? " (none installed)" : " (" + why + ")")));
        }
        Availability a = probe(name);
        if (!a.available()) {
            throw new DeviceUnavailableException("device " + name + ": " + a.reason());
        }
        for (KernelProvider p : providers()) {
            if (p.device().equals(name)) {
                return log(new Selection(p.create(options), name, a.reason()));
            }
        }
        throw new DeviceUnavailableException("device " + name + ": provider disappeared");
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

    private static Selection log(Selection s) {
        String key = s.device() + "|" + s.reason();
        if (LOGGED.putIfAbsent(key, Boolean.TRUE) == null) {
            LOG.log(System.Logger.Level.INFO, "ringattn device: " + s.device() + " (" + s.reason() + ")");
        }
        return s;
    }
}
