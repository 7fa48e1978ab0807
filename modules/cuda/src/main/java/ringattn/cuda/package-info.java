/**
 * The {@code cuda} device: {@link ringattn.cuda.CudaKernelProvider} (probe and factory, found by
 * {@code ServiceLoader}) and {@link ringattn.cuda.CublasKernel} (the block kernel on the GPU).
 * Selected with {@code --device cuda} or {@code auto}; see modules/cuda/README.md.
 */
package ringattn.cuda;
