/**
 * Device selection: {@code auto|cpu|cuda}. Accelerator kernels plug in as
 * {@link ringattn.engine.device.KernelProvider} services (for example module {@code ringattn.cuda});
 * {@link ringattn.engine.device.Devices#select} probes them once, logs the choice and the reason, and
 * falls back to the CPU kernel for {@code auto}.
 */
package ringattn.engine.device;
