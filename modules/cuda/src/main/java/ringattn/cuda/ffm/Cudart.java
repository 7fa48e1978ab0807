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
 * Hand-written FFM bindings to the CUDA runtime (libcudart), the subset the block kernel uses.
 * Loading this class loads the library ({@link CudaLibraries#cudart()}) and fails with the paths
 * tried when it is missing. Every status other than {@code cudaSuccess} becomes a
 * {@link CudaException} with {@code cudaGetErrorName}/{@code cudaGetErrorString}. Device pointers,
 * streams and events are {@code long} addresses. Thread-safe (the runtime is).
 */
@SuppressWarnings("restricted") // FFM: native access is enabled for this module
public final class Cudart {
    /** {@code cudaMemcpyHostToDevice}. */
    public static final int H2D = 1;
    /** {@code cudaMemcpyDeviceToHost}. */
    public static final int D2H = 2;
    /** {@code cudaMemcpyDeviceToDevice}. */
    public static final int D2D = 3;
    /** {@code cudaStreamNonBlocking}. */
    public static final int STREAM_NON_BLOCKING = 1;
    /** {@code cudaDevAttrMultiProcessorCount}. */
    public static final int ATTR_SM_COUNT = 16;
    /** {@code cudaDevAttrComputeCapabilityMajor}. */
    public static final int ATTR_CC_MAJOR = 75;
    /** {@code cudaDevAttrComputeCapabilityMinor}. */
    public static final int ATTR_CC_MINOR = 76;
    /** {@code cudaErrorInsufficientDriver}. */
    public static final int ERROR_INSUFFICIENT_DRIVER = 35;
    /** {@code cudaErrorNoDevice}. */
    public static final int ERROR_NO_DEVICE = 100;

    /** Every function bound here and its C signature; reading it loads no library. */
    public static final class Symbols {
        private Symbols() {
        }

        public static final Map<String, FunctionDescriptor> ALL = Map.ofEntries(
                Map.entry("cudaRuntimeGetVersion", FunctionDescriptor.of(INT, ADDR)),
                Map.entry("cudaDriverGetVersion", FunctionDescriptor.of(INT, ADDR)),
                Map.entry("cudaGetDeviceCount", FunctionDescriptor.of(INT, ADDR)),
                Map.entry("cudaGetErrorName", FunctionDescriptor.of(ADDR, INT)),
                Map.entry("cudaGetErrorString", FunctionDescriptor.of(ADDR, INT)),
                Map.entry("cudaSetDevice", FunctionDescriptor.of(INT, INT)),
                Map.entry("cudaDeviceGetAttribute", FunctionDescriptor.of(INT, ADDR, INT, INT)),
                Map.entry("cudaDeviceSynchronize", FunctionDescriptor.of(INT)),
                Map.entry("cudaMemGetInfo", FunctionDescriptor.of(INT, ADDR, ADDR)),
                Map.entry("cudaMalloc", FunctionDescriptor.of(INT, ADDR, LONG)),
                Map.entry("cudaFree", FunctionDescriptor.of(INT, LONG)),
                Map.entry("cudaMallocHost", FunctionDescriptor.of(INT, ADDR, LONG)),
                Map.entry("cudaFreeHost", FunctionDescriptor.of(INT, ADDR)),
                Map.entry("cudaMemcpyAsync", FunctionDescriptor.of(INT, LONG, LONG, LONG, INT, LONG)),
                Map.entry("cudaMemsetAsync", FunctionDescriptor.of(INT, LONG, INT, LONG, LONG)),
                Map.entry("cudaStreamCreateWithFlags", FunctionDescriptor.of(INT, ADDR, INT)),
                Map.entry("cudaStreamDestroy", FunctionDescriptor.of(INT, LONG)),
                Map.entry("cudaStreamSynchronize", FunctionDescriptor.of(INT, LONG)),
                Map.entry("cudaEventCreate", FunctionDescriptor.of(INT, ADDR)),
                Map.entry("cudaEventDestroy", FunctionDescriptor.of(INT, LONG)),
                Map.entry("cudaEventRecord", FunctionDescriptor.of(INT, LONG, LONG)),
                Map.entry("cudaEventSynchronize", FunctionDescriptor.of(INT, LONG)),
                Map.entry("cudaEventElapsedTime", FunctionDescriptor.of(INT, ADDR, LONG, LONG)));
    }

    private static final String LIB_NAME = "libcudart";
    private static final SymbolLookup LIB = CudaLibraries.cudart().require();
    private static final MethodHandle RUNTIME_GET_VERSION = bind("cudaRuntimeGetVersion");
    private static final MethodHandle DRIVER_GET_VERSION = bind("cudaDriverGetVersion");
    private static final MethodHandle GET_DEVICE_COUNT = bind("cudaGetDeviceCount");
    private static final MethodHandle GET_ERROR_NAME = bind("cudaGetErrorName");
    private static final MethodHandle GET_ERROR_STRING = bind("cudaGetErrorString");
    private static final MethodHandle SET_DEVICE = bind("cudaSetDevice");
    private static final MethodHandle DEVICE_GET_ATTRIBUTE = bind("cudaDeviceGetAttribute");
    private static final MethodHandle DEVICE_SYNCHRONIZE = bind("cudaDeviceSynchronize");
    private static final MethodHandle MEM_GET_INFO = bind("cudaMemGetInfo");
    private static final MethodHandle MALLOC = bind("cudaMalloc");
    private static final MethodHandle FREE = bind("cudaFree");
    private static final MethodHandle MALLOC_HOST = bind("cudaMallocHost");
    private static final MethodHandle FREE_HOST = bind("cudaFreeHost");
    private static final MethodHandle MEMCPY_ASYNC = bind("cudaMemcpyAsync");
    private static final MethodHandle MEMSET_ASYNC = bind("cudaMemsetAsync");
    private static final MethodHandle STREAM_CREATE = bind("cudaStreamCreateWithFlags");
    private static final MethodHandle STREAM_DESTROY = bind("cudaStreamDestroy");
    private static final MethodHandle STREAM_SYNCHRONIZE = bind("cudaStreamSynchronize");
    private static final MethodHandle EVENT_CREATE = bind("cudaEventCreate");
    private static final MethodHandle EVENT_DESTROY = bind("cudaEventDestroy");
    private static final MethodHandle EVENT_RECORD = bind("cudaEventRecord");
    private static final MethodHandle EVENT_SYNCHRONIZE = bind("cudaEventSynchronize");
    private static final MethodHandle EVENT_ELAPSED_TIME = bind("cudaEventElapsedTime");

    private Cudart() {
    }

    private static MethodHandle bind(String name) {
        return Downcalls.bind(LIB, LIB_NAME, name, Symbols.ALL);
    }

    /** Throws a {@link CudaException} for a status other than 0. */
    public static void check(int status, String call) {
        if (status != 0) {
            throw new CudaException(call, status, errorName(status), errorString(status));
        }
    }

    /** {@code cudaGetErrorName(status)}. */
    public static String errorName(int status) {
        try {
            return Downcalls.string((MemorySegment) GET_ERROR_NAME.invokeExact(status));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code cudaGetErrorString(status)}. */
    public static String errorString(int status) {
        try {
            return Downcalls.string((MemorySegment) GET_ERROR_STRING.invokeExact(status));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code cudaRuntimeGetVersion}: 1000*major + 10*minor (13000 for CUDA 13.0). */
    public static int runtimeVersion() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = Downcalls.intOut(arena);
            check((int) RUNTIME_GET_VERSION.invokeExact(out), "cudaRuntimeGetVersion");
            return out.get(ValueLayout.JAVA_INT, 0);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code cudaDriverGetVersion}: 0 when no driver is installed. */
    public static int driverVersion() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = Downcalls.intOut(arena);
            check((int) DRIVER_GET_VERSION.invokeExact(out), "cudaDriverGetVersion");
            return out.get(ValueLayout.JAVA_INT, 0);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /**
     * The raw {@code cudaGetDeviceCount}: {@code [status, count]}, without throwing, because a
     * failure here is the expected "no usable GPU" answer the probe reports.
     */
    public static int[] deviceCountRaw() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = Downcalls.intOut(arena);
            int status = (int) GET_DEVICE_COUNT.invokeExact(out);
            return new int[] {status, status == 0 ? out.get(ValueLayout.JAVA_INT, 0) : 0};
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    public static void setDevice(int device) {
        try {
            check((int) SET_DEVICE.invokeExact(device), "cudaSetDevice(" + device + ")");
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    public static int deviceAttribute(int attribute, int device) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = Downcalls.intOut(arena);
            check((int) DEVICE_GET_ATTRIBUTE.invokeExact(out, attribute, device), "cudaDeviceGetAttribute");
            return out.get(ValueLayout.JAVA_INT, 0);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    public static void deviceSynchronize() {
        try {
            check((int) DEVICE_SYNCHRONIZE.invokeExact(), "cudaDeviceSynchronize");
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code [freeBytes, totalBytes]} of the current device. */
    public static long[] memInfo() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment free = arena.allocate(ValueLayout.JAVA_LONG);
            MemorySegment total = arena.allocate(ValueLayout.JAVA_LONG);
            check((int) MEM_GET_INFO.invokeExact(free, total), "cudaMemGetInfo");
            return new long[] {free.get(ValueLayout.JAVA_LONG, 0), total.get(ValueLayout.JAVA_LONG, 0)};
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code cudaMalloc}: a device pointer of {@code bytes}. */
    public static long malloc(long bytes) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = Downcalls.ptrOut(arena);
            check((int) MALLOC.invokeExact(out, bytes), "cudaMalloc(" + bytes + " bytes)");
            return out.get(ValueLayout.ADDRESS, 0).address();
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    public static void free(long devicePtr) {
        try {
            check((int) FREE.invokeExact(devicePtr), "cudaFree");
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code cudaMallocHost}: page-locked host memory of {@code bytes}, as a segment. */
    public static MemorySegment mallocHost(long bytes) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = Downcalls.ptrOut(arena);
            check((int) MALLOC_HOST.invokeExact(out, bytes), "cudaMallocHost(" + bytes + " bytes)");
            return out.get(ValueLayout.ADDRESS, 0).reinterpret(bytes);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    public static void freeHost(MemorySegment pinned) {
        try {
            check((int) FREE_HOST.invokeExact(pinned), "cudaFreeHost");
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code cudaMemcpyAsync(dst, src, bytes, kind, stream)}; addresses are device or pinned host. */
    public static void memcpyAsync(long dst, long src, long bytes, int kind, long stream) {
        try {
            check((int) MEMCPY_ASYNC.invokeExact(dst, src, bytes, kind, stream), "cudaMemcpyAsync");
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    public static void memsetAsync(long devicePtr, int value, long bytes, long stream) {
        try {
            check((int) MEMSET_ASYNC.invokeExact(devicePtr, value, bytes, stream), "cudaMemsetAsync");
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    public static long streamCreate(int flags) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = Downcalls.ptrOut(arena);
            check((int) STREAM_CREATE.invokeExact(out, flags), "cudaStreamCreateWithFlags");
            return out.get(ValueLayout.ADDRESS, 0).address();
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    public static void streamDestroy(long stream) {
        try {
            check((int) STREAM_DESTROY.invokeExact(stream), "cudaStreamDestroy");
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** Waits for the stream; errors of earlier asynchronous work surface here. */
    public static void streamSynchronize(long stream) {
        try {
            check((int) STREAM_SYNCHRONIZE.invokeExact(stream), "cudaStreamSynchronize");
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    public static long eventCreate() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = Downcalls.ptrOut(arena);
            check((int) EVENT_CREATE.invokeExact(out), "cudaEventCreate");
            return out.get(ValueLayout.ADDRESS, 0).address();
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    public static void eventDestroy(long event) {
        try {
            check((int) EVENT_DESTROY.invokeExact(event), "cudaEventDestroy");
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    public static void eventRecord(long event, long stream) {
        try {
            check((int) EVENT_RECORD.invokeExact(event, stream), "cudaEventRecord");
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    public static void eventSynchronize(long event) {
        try {
            check((int) EVENT_SYNCHRONIZE.invokeExact(event), "cudaEventSynchronize");
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** Milliseconds between two recorded events. */
    public static float eventElapsedMillis(long start, long end) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.JAVA_FLOAT);
            check((int) EVENT_ELAPSED_TIME.invokeExact(out, start, end), "cudaEventElapsedTime");
            return out.get(ValueLayout.JAVA_FLOAT, 0);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }
}
