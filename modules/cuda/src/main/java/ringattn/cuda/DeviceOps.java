package ringattn.cuda;

import java.lang.foreign.MemorySegment;
import ringattn.cuda.ffm.KernelArgs;

/**
 * What {@link CublasKernel} asks of a device: memory, ordered asynchronous copies through pinned
 * host memory, strided batched GEMMs (cuBLAS semantics: column-major, fp32 compute, fp32 C) and
 * launches of the PTX entries of {@link Ptx}. Everything is ordered on one stream;
 * {@link #synchronize()} waits for it. {@link CudaDeviceOps} is the GPU; the tests have a CPU
 * emulation that checks the kernel's layouts and index arithmetic without one. Not thread-safe.
 */
interface DeviceOps extends AutoCloseable {
    /** A short description for logs ({@code cuda:0 (NVIDIA H200)}). */
    String describe();

    /** Makes the device current on the calling thread. */
    void makeCurrent();

    /** Device memory of {@code bytes}; returns its address. */
    long alloc(long bytes);

    void free(long pointer);

    /** Page-locked host memory of {@code bytes}. */
    MemorySegment allocPinned(long bytes);

    void freePinned(MemorySegment pinned);

    /** Copies {@code bytes} from {@code pinned} at {@code offset} to device address {@code dst}. */
    void copyToDevice(long dst, MemorySegment pinned, long offset, long bytes);

    /** Copies {@code bytes} from device address {@code src} into {@code pinned} at {@code offset}. */
    void copyToHost(MemorySegment pinned, long offset, long src, long bytes);

    /** Sets {@code bytes} of device memory at {@code dst} to zero, on the stream. */
    void zero(long dst, long bytes);

    /** Waits for all work queued so far; errors of asynchronous work surface here. */
    void synchronize();

    /**
     * {@code C = alpha·op(A)·op(B) + beta·C} for {@code batch} matrices at strides (elements),
     * column-major as cuBLAS; A and B of type {@code Cublas.R_32F} or {@code Cublas.R_16BF}, C fp32.
     */
    void gemm(int transa, int transb, int m, int n, int k, float alpha,
              long a, int aType, int lda, long strideA, long b, int bType, int ldb, long strideB,
              float beta, long c, int ldc, long strideC, int batch);

    /** Launches PTX entry {@code entry} on a 1-D grid with the given arguments. */
    void launch(String entry, int grid, int block, KernelArgs args);

    @Override
    void close();
}
