/**
 * Hand-written FFM bindings: the CUDA runtime ({@link ringattn.cuda.ffm.Cudart}), cuBLAS
 * ({@link ringattn.cuda.ffm.Cublas}) and the driver API ({@link ringattn.cuda.ffm.CudaDriver}), with
 * the library search that records every path tried ({@link ringattn.cuda.ffm.CudaLibraries}).
 * Method handles are {@code static final} and called with {@code invokeExact}; every status code
 * becomes a {@link ringattn.cuda.ffm.CudaException} carrying the library's own message. Not
 * exported.
 */
package ringattn.cuda.ffm;
