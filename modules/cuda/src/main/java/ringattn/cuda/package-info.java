/**
 * The {@code cuda} device: {@link ringattn.cuda.CudaKernelProvider} (probe and factory, found by
 * {@code ServiceLoader}) and {@link ringattn.cuda.CublasKernel} (the block kernel on the GPU). A
 * kernel's passes ({@code CublasForward}, {@code CublasBackward}) keep their queries and running
 * state on the device from begin to finish, so an update moves only its K/V block (and, backward,
 * the block's dK/dV). The kernel drives the device through {@code DeviceOps}: {@code CudaDeviceOps}
 * on a GPU, a CPU emulation in the tests. Selected with {@code --device cuda} or {@code auto}; see
 * modules/cuda/README.md.
 */
package ringattn.cuda;
