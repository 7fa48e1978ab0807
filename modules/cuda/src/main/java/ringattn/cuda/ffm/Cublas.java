package ringattn.cuda.ffm;

import static ringattn.cuda.ffm.Downcalls.ADDR;
import static ringattn.cuda.ffm.Downcalls.INT;
import static ringattn.cuda.ffm.Downcalls.LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Map;

/**
 * Hand-written FFM bindings to cuBLAS (libcublas, v2 API). Loading this class loads libcudart,
 * libcublasLt and libcublas in that order ({@link CudaLibraries#cublas()}). Every status other than
 * {@code CUBLAS_STATUS_SUCCESS} becomes a {@link CudaException} with {@code cublasGetStatusName} and
 * {@code cublasGetStatusString}. Column-major, as cuBLAS is; device pointers are {@code long}.
 */
public final class Cublas {
    /** {@code CUBLAS_OP_N}. */
    public static final int OP_N = 0;
    /** {@code CUBLAS_OP_T}. */
    public static final int OP_T = 1;
    /** {@code CUDA_R_32F}. */
    public static final int R_32F = 0;
    /** {@code CUDA_R_16BF}. */
    public static final int R_16BF = 14;
    /** {@code CUBLAS_COMPUTE_32F}: fp32 accumulation, no TF32 or reduced-precision shortcuts. */
    public static final int COMPUTE_32F = 68;
    /**
     * {@code CUBLAS_DEFAULT_MATH}: single-precision routines and {@link #COMPUTE_32F} GEMMs stay in
     * fp32 (no TF32 tensor cores, which {@code CUBLAS_TF32_TENSOR_OP_MATH}, 3, would allow).
     */
    public static final int DEFAULT_MATH = 0;
    /** {@code CUBLAS_GEMM_DEFAULT}. */
    public static final int GEMM_DEFAULT = -1;
    /** {@code MAJOR_VERSION}, {@code MINOR_VERSION}, {@code PATCH_LEVEL} of {@code libraryPropertyType}. */
    public static final int MAJOR_VERSION = 0;
    public static final int MINOR_VERSION = 1;
    public static final int PATCH_LEVEL = 2;

    /** Every function bound here and its C signature; reading it loads no library. */
    public static final class Symbols {
        private Symbols() {
        }

        public static final Map<String, FunctionDescriptor> ALL = Map.ofEntries(
                Map.entry("cublasCreate_v2", FunctionDescriptor.of(INT, ADDR)),
                Map.entry("cublasDestroy_v2", FunctionDescriptor.of(INT, LONG)),
                Map.entry("cublasSetStream_v2", FunctionDescriptor.of(INT, LONG, LONG)),
                Map.entry("cublasSetMathMode", FunctionDescriptor.of(INT, LONG, INT)),
                Map.entry("cublasGetMathMode", FunctionDescriptor.of(INT, LONG, ADDR)),
                Map.entry("cublasGetStatusName", FunctionDescriptor.of(ADDR, INT)),
                Map.entry("cublasGetStatusString", FunctionDescriptor.of(ADDR, INT)),
                Map.entry("cublasGetProperty", FunctionDescriptor.of(INT, INT, ADDR)),
                Map.entry("cublasSgemm_v2", FunctionDescriptor.of(INT, LONG, INT, INT, INT, INT, INT,
                        ADDR, LONG, INT, LONG, INT, ADDR, LONG, INT)),
                Map.entry("cublasGemmStridedBatchedEx", FunctionDescriptor.of(INT, LONG, INT, INT, INT, INT, INT,
                        ADDR, LONG, INT, INT, LONG, LONG, INT, INT, LONG, ADDR, LONG, INT, INT, LONG, INT, INT, INT)));
    }

    private static final String LIB_NAME = "libcublas";
    private static final SymbolLookup LIB = CudaLibraries.cublas().require();
    private static final MethodHandle CREATE = bind("cublasCreate_v2");
    private static final MethodHandle DESTROY = bind("cublasDestroy_v2");
    private static final MethodHandle SET_STREAM = bind("cublasSetStream_v2");
    private static final MethodHandle SET_MATH_MODE = bind("cublasSetMathMode");
    private static final MethodHandle GET_MATH_MODE = bind("cublasGetMathMode");
    private static final MethodHandle GET_STATUS_NAME = bind("cublasGetStatusName");
    private static final MethodHandle GET_STATUS_STRING = bind("cublasGetStatusString");
    private static final MethodHandle GET_PROPERTY = bind("cublasGetProperty");
    private static final MethodHandle SGEMM = bind("cublasSgemm_v2");
    private static final MethodHandle GEMM_STRIDED_BATCHED_EX = bind("cublasGemmStridedBatchedEx");

    private Cublas() {
    }

    private static MethodHandle bind(String name) {
        return Downcalls.bind(LIB, LIB_NAME, name, Symbols.ALL);
    }

    /** Throws a {@link CudaException} for a status other than 0. */
    public static void check(int status, String call) {
        if (status != 0) {
            throw new CudaException(call, status, statusName(status), statusString(status));
        }
    }

    public static String statusName(int status) {
        try {
            return Downcalls.string((MemorySegment) GET_STATUS_NAME.invokeExact(status));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    public static String statusString(int status) {
        try {
            return Downcalls.string((MemorySegment) GET_STATUS_STRING.invokeExact(status));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code major.minor.patch} from {@code cublasGetProperty} (works without a driver). */
    public static String version() {
        return property(MAJOR_VERSION) + "." + property(MINOR_VERSION) + "." + property(PATCH_LEVEL);
    }

    private static int property(int type) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = Downcalls.intOut(arena);
            check((int) GET_PROPERTY.invokeExact(type, out), "cublasGetProperty");
            return out.get(ValueLayout.JAVA_INT, 0);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code cublasCreate_v2}: a handle on the current device. */
    public static long create() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = Downcalls.ptrOut(arena);
            check((int) CREATE.invokeExact(out), "cublasCreate_v2");
            return out.get(ValueLayout.ADDRESS, 0).address();
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    public static void destroy(long handle) {
        try {
            check((int) DESTROY.invokeExact(handle), "cublasDestroy_v2");
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    public static void setStream(long handle, long stream) {
        try {
            check((int) SET_STREAM.invokeExact(handle, stream), "cublasSetStream_v2");
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code cublasSetMathMode}: {@code mode} is a {@code cublasMath_t} such as {@link #DEFAULT_MATH}. */
    public static void setMathMode(long handle, int mode) {
        try {
            check((int) SET_MATH_MODE.invokeExact(handle, mode), "cublasSetMathMode(" + mode + ")");
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code cublasGetMathMode}: the handle's {@code cublasMath_t}. */
    public static int mathMode(long handle) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = Downcalls.intOut(arena);
            check((int) GET_MATH_MODE.invokeExact(handle, out), "cublasGetMathMode");
            return out.get(ValueLayout.JAVA_INT, 0);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /**
     * {@code C = alpha op(A) op(B) + beta C} in fp32, column-major; {@code alpha} and {@code beta}
     * are host scalars in {@code scalars} (two floats: alpha at 0, beta at 4).
     */
    public static void sgemm(long handle, int transa, int transb, int m, int n, int k, MemorySegment scalars,
                             long a, int lda, long b, int ldb, long c, int ldc) {
        try {
            check((int) SGEMM.invokeExact(handle, transa, transb, m, n, k, scalars, a, lda, b, ldb,
                    scalars.asSlice(4), c, ldc), "cublasSgemm_v2");
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /**
     * {@code cublasGemmStridedBatchedEx} with fp32 compute ({@code CUBLAS_COMPUTE_32F}) and fp32
     * host scalars in {@code scalars} (alpha at 0, beta at 4); A and B are {@link #R_32F} or
     * {@link #R_16BF}, C is fp32.
     */
    public static void gemmStridedBatched(long handle, int transa, int transb, int m, int n, int k,
                                          MemorySegment scalars,
                                          long a, int aType, int lda, long strideA,
                                          long b, int bType, int ldb, long strideB,
                                          long c, int ldc, long strideC, int batch) {
        try {
            check((int) GEMM_STRIDED_BATCHED_EX.invokeExact(handle, transa, transb, m, n, k, scalars,
                    a, aType, lda, strideA, b, bType, ldb, strideB, scalars.asSlice(4),
                    c, R_32F, ldc, strideC, batch, COMPUTE_32F, GEMM_DEFAULT),
                    "cublasGemmStridedBatchedEx(m=" + m + ", n=" + n + ", k=" + k + ", batch=" + batch + ")");
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }
}
