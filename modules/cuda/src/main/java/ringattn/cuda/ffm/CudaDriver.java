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
 * Hand-written FFM bindings to the CUDA driver API (libcuda), used to load the PTX of the softmax
 * kernels and launch them. Loading this class loads the driver ({@link CudaLibraries#driver()}).
 * Every status other than {@code CUDA_SUCCESS} becomes a {@link CudaException} with
 * {@code cuGetErrorName}/{@code cuGetErrorString}. Contexts, modules, functions and streams are
 * {@code long} handles; a {@code cudaStream_t} is a {@code CUstream}.
 */
public final class CudaDriver {
    /** Every function bound here and its C signature; reading it loads no library. */
    public static final class Symbols {
        private Symbols() {
        }

        public static final Map<String, FunctionDescriptor> ALL = Map.ofEntries(
                Map.entry("cuInit", FunctionDescriptor.of(INT, INT)),
                Map.entry("cuDriverGetVersion", FunctionDescriptor.of(INT, ADDR)),
                Map.entry("cuGetErrorName", FunctionDescriptor.of(INT, INT, ADDR)),
                Map.entry("cuGetErrorString", FunctionDescriptor.of(INT, INT, ADDR)),
                Map.entry("cuDeviceGet", FunctionDescriptor.of(INT, ADDR, INT)),
                Map.entry("cuDeviceGetName", FunctionDescriptor.of(INT, ADDR, INT, INT)),
                Map.entry("cuCtxGetCurrent", FunctionDescriptor.of(INT, ADDR)),
                Map.entry("cuCtxSetCurrent", FunctionDescriptor.of(INT, LONG)),
                Map.entry("cuModuleLoadData", FunctionDescriptor.of(INT, ADDR, ADDR)),
                Map.entry("cuModuleUnload", FunctionDescriptor.of(INT, LONG)),
                Map.entry("cuModuleGetFunction", FunctionDescriptor.of(INT, ADDR, LONG, ADDR)),
                Map.entry("cuLaunchKernel", FunctionDescriptor.of(INT, LONG, INT, INT, INT, INT, INT, INT, INT,
                        LONG, ADDR, ADDR)));
    }

    private static final String LIB_NAME = "libcuda";
    private static final SymbolLookup LIB = CudaLibraries.driver().require();
    private static final MethodHandle INIT = bind("cuInit");
    private static final MethodHandle DRIVER_GET_VERSION = bind("cuDriverGetVersion");
    private static final MethodHandle GET_ERROR_NAME = bind("cuGetErrorName");
    private static final MethodHandle GET_ERROR_STRING = bind("cuGetErrorString");
    private static final MethodHandle DEVICE_GET = bind("cuDeviceGet");
    private static final MethodHandle DEVICE_GET_NAME = bind("cuDeviceGetName");
    private static final MethodHandle CTX_GET_CURRENT = bind("cuCtxGetCurrent");
    private static final MethodHandle CTX_SET_CURRENT = bind("cuCtxSetCurrent");
    private static final MethodHandle MODULE_LOAD_DATA = bind("cuModuleLoadData");
    private static final MethodHandle MODULE_UNLOAD = bind("cuModuleUnload");
    private static final MethodHandle MODULE_GET_FUNCTION = bind("cuModuleGetFunction");
    private static final MethodHandle LAUNCH_KERNEL = bind("cuLaunchKernel");

    private CudaDriver() {
    }

    private static MethodHandle bind(String name) {
        return Downcalls.bind(LIB, LIB_NAME, name, Symbols.ALL);
    }

    /** Throws a {@link CudaException} for a status other than 0. */
    public static void check(int status, String call) {
        if (status != 0) {
            throw new CudaException(call, status, errorText(GET_ERROR_NAME, status), errorText(GET_ERROR_STRING, status));
        }
    }

    private static String errorText(MethodHandle handle, int status) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = Downcalls.ptrOut(arena);
            int rc = (int) handle.invokeExact(status, out);
            return rc != 0 ? "unknown CUresult" : Downcalls.string(out.get(ValueLayout.ADDRESS, 0));
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code cuInit(0)}, returning the raw status (the probe reports it, it does not throw). */
    public static int initRaw() {
        try {
            return (int) INIT.invokeExact(0);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code cuGetErrorName: cuGetErrorString} of a status. */
    public static String describe(int status) {
        return errorText(GET_ERROR_NAME, status) + ": " + errorText(GET_ERROR_STRING, status);
    }

    public static int driverVersion() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = Downcalls.intOut(arena);
            check((int) DRIVER_GET_VERSION.invokeExact(out), "cuDriverGetVersion");
            return out.get(ValueLayout.JAVA_INT, 0);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** The name of device {@code ordinal} ({@code NVIDIA H200}). */
    public static String deviceName(int ordinal) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment dev = Downcalls.intOut(arena);
            check((int) DEVICE_GET.invokeExact(dev, ordinal), "cuDeviceGet");
            MemorySegment name = arena.allocate(256);
            check((int) DEVICE_GET_NAME.invokeExact(name, 256, dev.get(ValueLayout.JAVA_INT, 0)), "cuDeviceGetName");
            return name.getString(0);
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** The context current on this thread (0 when none). */
    public static long currentContext() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = Downcalls.ptrOut(arena);
            check((int) CTX_GET_CURRENT.invokeExact(out), "cuCtxGetCurrent");
            return out.get(ValueLayout.ADDRESS, 0).address();
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    public static void setCurrentContext(long context) {
        try {
            check((int) CTX_SET_CURRENT.invokeExact(context), "cuCtxSetCurrent");
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /** {@code cuModuleLoadData} of PTX text (JIT-compiled by the driver for the current device). */
    public static long loadModule(String ptx) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = Downcalls.ptrOut(arena);
            check((int) MODULE_LOAD_DATA.invokeExact(out, arena.allocateFrom(ptx)), "cuModuleLoadData");
            return out.get(ValueLayout.ADDRESS, 0).address();
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    public static void unloadModule(long module) {
        try {
            check((int) MODULE_UNLOAD.invokeExact(module), "cuModuleUnload");
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    public static long function(long module, String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = Downcalls.ptrOut(arena);
            check((int) MODULE_GET_FUNCTION.invokeExact(out, module, arena.allocateFrom(name)),
                    "cuModuleGetFunction(" + name + ")");
            return out.get(ValueLayout.ADDRESS, 0).address();
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }

    /**
     * {@code cuLaunchKernel} on a 1-D grid; {@code params} is the {@code void**} array of pointers
     * to each argument value (see {@link KernelArgs}).
     */
    public static void launch(long function, int gridX, int blockX, int sharedBytes, long stream,
                              MemorySegment params, String what) {
        try {
            check((int) LAUNCH_KERNEL.invokeExact(function, gridX, 1, 1, blockX, 1, 1, sharedBytes, stream,
                    params, MemorySegment.NULL), "cuLaunchKernel(" + what + ")");
        } catch (Throwable t) {
            throw Downcalls.rethrow(t);
        }
    }
}
