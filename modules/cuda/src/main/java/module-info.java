/**
 * GPU offload of the block kernel: cuBLAS and the CUDA runtime/driver called through FFM, a few
 * online-softmax kernels shipped as PTX text. Plugs into the engine as the {@code cuda}
 * {@link ringattn.engine.device.KernelProvider}; nothing here is needed on machines without a GPU,
 * where the provider's probe says why it is unavailable and {@code auto} falls back to the CPU.
 */
module ringattn.cuda {
    requires transitive ringattn.engine;

    exports ringattn.cuda;

    provides ringattn.engine.device.KernelProvider with ringattn.cuda.CudaKernelProvider;
}
