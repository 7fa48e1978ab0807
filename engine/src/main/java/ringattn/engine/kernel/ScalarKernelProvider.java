package ringattn.engine.kernel;

import ringattn.engine.device.Availability;
import ringattn.engine.device.KernelProvider;

/**
 * The {@code scalar} CPU kernel ({@link ScalarKernel}): plain Java, usable on every JVM, the
 * fallback when the Vector API is not. Found by {@link ringattn.engine.device.Devices} through
 * {@link java.util.ServiceLoader}. Stateless and thread-safe.
 */
public final class ScalarKernelProvider implements KernelProvider {
    /** For {@link java.util.ServiceLoader}. */
    public ScalarKernelProvider() {
    }

    @Override
    public String name() {
        return "scalar";
    }

    @Override
    public String device() {
        return "cpu";
    }

    @Override
    public Availability probe() {
        return Availability.yes("plain Java loops");
    }

    @Override
    public BlockKernel create(KernelOptions options) {
        return new ScalarKernel(options);
    }
}
