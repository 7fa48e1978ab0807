package ringattn.cli;

import java.io.PrintStream;

/** The {@code --device} choice. This build computes on CPUs only. Stateless. */
final class Device {
    private Device() {
    }

    static final Option OPTION = Option.value("device", "auto|cpu|cuda", "compute device (default auto: CPU in this build)");

    /** Resolves {@code --device}; logs the choice once to {@code err}; {@code cuda} is a usage error. */
    static String resolve(Options o, PrintStream err) {
        String d = o.choice("device", "auto", "auto", "cpu", "cuda");
        if (d.equals("cuda")) {
            throw new UsageException("--device cuda", "no CUDA GPU support in this build/machine (no GPU kernel "
                    + "module is installed); use --device cpu");
        }
        err.println("device: cpu (" + (d.equals("auto") ? "auto: no GPU kernel module in this build" : "requested")
                + "; " + Runtime.getRuntime().availableProcessors() + " cores)");
        return "cpu";
    }
}
