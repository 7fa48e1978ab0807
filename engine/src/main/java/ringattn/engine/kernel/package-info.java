/**
 * The block-kernel port and what it works on: global token {@link ringattn.engine.kernel.Positions},
 * the {@link ringattn.engine.kernel.AttentionSpec} (scale and masks by global position), the carried
 * online-softmax {@link ringattn.engine.kernel.ForwardState} and the
 * {@link ringattn.engine.kernel.BackwardState}; the {@link ringattn.engine.kernel.KernelOptions};
 * the scalar kernel and its provider ({@link ringattn.engine.kernel.ScalarKernelProvider},
 * {@code scalar}); the {@link ringattn.engine.kernel.Gemm} port of the Vector API's matrix multiply.
 * Kernels are chosen through {@link ringattn.engine.device.Devices}.
 */
package ringattn.engine.kernel;
