/**
 * Kernel selection, the one mechanism for every kernel: {@link ringattn.engine.device.KernelProvider}
 * services — the engine's CPU kernels {@code simd} (Vector API) and {@code scalar}, accelerators
 * from other modules (module {@code ringattn.cuda}: {@code cuda}) — each probed once into an
 * {@link ringattn.engine.device.Availability} with its reason. {@link ringattn.engine.device.Devices}
 * is the lookup: {@code select(auto|cpu|cuda, options)} (the CPU kernel by {@code KernelOptions.impl}
 * or the system property {@code ringattn.kernel}, falling back to {@code scalar} with the reason),
 * {@code gemm} for other modules' dense layers; each choice is logged once.
 * {@link ringattn.engine.device.DeviceUnavailableException} says why an explicit choice cannot be used.
 */
package ringattn.engine.device;
