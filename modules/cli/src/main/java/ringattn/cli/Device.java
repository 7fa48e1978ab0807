package ringattn.cli;

import java.io.PrintStream;
import java.util.Locale;
import ringattn.engine.device.Availability;
import ringattn.engine.device.Devices;
import ringattn.engine.device.KernelProvider;

/**
 * The {@code --device} choice: {@code auto} (an accelerator whose provider module is on the module
 * path and whose probe succeeds, else the CPU), {@code cpu}, or {@code cuda} (a usage error when
 * the CUDA provider is missing or finds no usable GPU). The ranks select their kernels through the
 * engine's {@link Devices}; this class checks the choice up front and logs it once. Stateless.
 */
final class Device {
    private Device() {
    }

    static final Option OPTION = Option.value("device", "auto|cpu|cuda",
            "compute device (default auto: a usable GPU when the cuda module finds one, else the CPU)");

    /** The {@code --device} value, validated (auto|cpu|cuda), without probing. */
    static String choice(Options o) {
        return o.choice("device", "auto", "auto", "cpu", "cuda");
    }

    /**
     * Checks {@code --device} (a {@code cuda} without a usable GPU is a {@link UsageException} naming
     * {@code --device cuda} and the probe's reason) and logs the choice once to {@code err}.
     */
    static String resolve(Options o, PrintStream err) {
        String d = choice(o);
        if (d.equals("cuda")) {
            Availability a = Devices.probe("cuda");
            if (!a.available()) {
                throw new UsageException("--device cuda", "no CUDA GPU support in this build/machine (" + a.reason()
                        + "); use --device cpu");
            }
            err.println("device: cuda (" + a.reason() + ")");
        } else if (d.equals("cpu")) {
            err.println("device: cpu (requested; " + Runtime.getRuntime().availableProcessors() + " cores)");
        } else {
            err.println("device: " + autoChoice());
        }
        return d;
    }

    /** What {@code auto} picks here, with the reason. */
    static String autoChoice() {
        java.util.List<String> unusable = new java.util.ArrayList<>();
        for (KernelProvider p : Devices.accelerators()) {
            Availability a = Devices.probe(p.name());
            if (a.available()) {
                return p.device().toLowerCase(Locale.ROOT) + " (auto: " + a.reason() + ")";
            }
            unusable.add(p.device());
        }
        return "cpu (auto: " + (unusable.isEmpty() ? "no accelerator module installed"
                : "no usable " + String.join("/", unusable) + " device; --device " + unusable.getFirst() + " says why")
                + "; " + Runtime.getRuntime().availableProcessors() + " cores)";
    }
}
