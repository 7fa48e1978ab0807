/**
 * The Vector API kernels: {@link ringattn.engine.kernel.simd.PanamaKernel}, the matrix multiply
 * {@link ringattn.engine.kernel.simd.PanamaGemm}, the register-file probe and the generated per-shape
 * classes, reached only through {@link ringattn.engine.kernel.simd.PanamaKernelProvider} (the
 * {@code simd} kernel provider, a {@link java.util.ServiceLoader} service), which touches no vector
 * type before it has found module {@code jdk.incubator.vector}. The only package that imports
 * {@code jdk.incubator.vector}; not exported, so the engine runs without the incubator module.
 */
package ringattn.engine.kernel.simd;
