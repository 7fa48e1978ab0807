/**
 * Dense kernels of the model: the linear layers' matrix multiply ({@link ringattn.model.linalg.MatMul},
 * over the engine's register-blocked {@link ringattn.engine.kernel.Gemm}, F32 and BF16 weights, its
 * work split over the engine's {@link ringattn.engine.concurrent.WorkerPool}) and row operations
 * (RMSNorm, SiLU, adds) with the Vector API. The only package of this module importing
 * {@code jdk.incubator.vector}; not exported, and vector types never appear in its signatures.
 */
package ringattn.model.linalg;
