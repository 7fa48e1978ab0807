package ringattn.engine.testing;

import ringattn.engine.device.Devices;
import ringattn.engine.kernel.KernelOptions;

/**
 * Run in a JVM of its own by {@code SimdProviderFallbackTest}: selects the CPU kernel twice (the
 * choice must be logged once) and asks for the matrix multiply, printing one line for each
 * ({@code select <provider> <kernel> | <reason>}, {@code error <type> | <message>},
 * {@code gemm <name>}, {@code gemm-error <type> | <message>}). Uses the engine's exported API only.
 */
public final class KernelChoiceMain {
    private KernelChoiceMain() {
    }

    public static void main(String[] args) {
        for (int i = 0; i < 2; i++) {
            try {
                Devices.Selection s = Devices.select("cpu", KernelOptions.defaults(1));
                try (var kernel = s.kernel()) {
                    System.out.println("select " + s.provider() + " " + kernel.name() + " | " + s.reason());
                }
            } catch (RuntimeException e) {
                System.out.println("error " + e.getClass().getSimpleName() + " | " + e.getMessage());
            }
        }
        try {
            System.out.println("gemm " + Devices.gemm(0, 0).name());
        } catch (RuntimeException e) {
            System.out.println("gemm-error " + e.getClass().getSimpleName() + " | " + e.getMessage());
        }
    }
}
