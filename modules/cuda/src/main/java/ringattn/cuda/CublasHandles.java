package ringattn.cuda;

import ringattn.cuda.ffm.Cublas;

/**
 * Opens the cuBLAS handle of a {@link CudaDeviceOps}: created on the current device, its math mode
 * pinned to {@code CUBLAS_DEFAULT_MATH} before it runs any GEMM, then bound to the stream. The pin
 * keeps fp32 GEMMs off TF32 tensor cores (a 10-bit mantissa: errors near 1e-3 where fp32 gives about
 * 1e-6, far outside {@code GpuChecks.TOLERANCE}) whatever math mode a new handle gets from the
 * library's defaults; BF16 inputs still use tensor cores, whose products are exact in the fp32
 * accumulation of {@code CUBLAS_COMPUTE_32F}. TF32 would have to be asked for with another mode
 * here; nothing asks for it. On failure the handle is destroyed. Stateless.
 */
final class CublasHandles {
    /** The cuBLAS calls that open a handle: {@link #CUBLAS} on a GPU, a recorder in the tests. */
    interface Calls {
        /** {@code cublasCreate_v2}. */
        long create();

        /** {@code cublasSetMathMode}. */
        void setMathMode(long handle, int mode);

        /** {@code cublasSetStream_v2}. */
        void setStream(long handle, long stream);

        /** {@code cublasDestroy_v2}. */
        void destroy(long handle);
    }

    /** The real library. */
    static final Calls CUBLAS = new Calls() {
        @Override
        public long create() {
            return Cublas.create();
        }

        @Override
        public void setMathMode(long handle, int mode) {
            Cublas.setMathMode(handle, mode);
        }

        @Override
        public void setStream(long handle, long stream) {
            Cublas.setStream(handle, stream);
        }

        @Override
        public void destroy(long handle) {
            Cublas.destroy(handle);
        }
    };

    private CublasHandles() {
    }

    /** A handle with {@link Cublas#DEFAULT_MATH}, bound to {@code stream}; the caller destroys it. */
    static long open(Calls cublas, long stream) {
        long handle = cublas.create();
        try {
            cublas.setMathMode(handle, Cublas.DEFAULT_MATH);
            cublas.setStream(handle, stream);
            return handle;
        } catch (RuntimeException e) {
            try {
                cublas.destroy(handle);
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }
}
