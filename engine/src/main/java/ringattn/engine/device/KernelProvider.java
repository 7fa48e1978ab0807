package ringattn.engine.device;

import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.KernelOptions;

/**
 * A service that makes {@link BlockKernel}s for one accelerator ({@code cuda}, …). Found with
 * {@link java.util.ServiceLoader}; implementations must be cheap to construct and do their probing
 * in {@link #probe()}, which may be called once per JVM. Thread-safe.
 */
public interface KernelProvider {
    /** The device name users select, lower case ({@code cuda}). */
    String device();

    /** Whether the device is usable here, and why not (libraries and paths tried, driver status). */
    Availability probe();

    /** A kernel on this device; only called after {@link #probe()} said it is available. */
    BlockKernel create(KernelOptions options);
}
