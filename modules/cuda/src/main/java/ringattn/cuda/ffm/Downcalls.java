package ringattn.cuda.ffm;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Map;

/** Helpers shared by the hand-written bindings. */
@SuppressWarnings("restricted") // FFM: native access is enabled for this module
final class Downcalls {
    static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT;
    static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG;
    static final ValueLayout ADDR = ValueLayout.ADDRESS;

    private Downcalls() {
    }

    /** The downcall handle of {@code name}, whose descriptor is in {@code table}. */
    static MethodHandle bind(SymbolLookup lib, String library, String name, Map<String, FunctionDescriptor> table) {
        FunctionDescriptor fd = table.get(name);
        if (fd == null) {
            throw new IllegalStateException("no descriptor for " + name);
        }
        MemorySegment symbol = lib.find(name).orElseThrow(() ->
                new UnsatisfiedLinkError(name + ": symbol not found in " + library));
        return Linker.nativeLinker().downcallHandle(symbol, fd);
    }

    /** The NUL-terminated string at {@code address}, or {@code "?"} for NULL. */
    static String string(MemorySegment address) {
        return address.equals(MemorySegment.NULL) ? "?" : address.reinterpret(Long.MAX_VALUE).getString(0);
    }

    /** A one-int out parameter. */
    static MemorySegment intOut(Arena arena) {
        return arena.allocate(ValueLayout.JAVA_INT);
    }

    /** A one-pointer out parameter. */
    static MemorySegment ptrOut(Arena arena) {
        return arena.allocate(ValueLayout.ADDRESS);
    }

    /** Wraps a Throwable from invokeExact (a native call cannot throw checked exceptions). */
    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException re) {
            return re;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(t);
    }
}
