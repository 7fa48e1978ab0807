package ringattn.transport.ucx;

import java.lang.foreign.AddressLayout;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A PMIx client (the process-management interface that Open MPI's mpirun and Slurm's
 * {@code srun --mpi=pmix} serve to every process they start), called through FFM: this process's
 * rank and namespace from {@code PMIx_Init}, the job's size, and a small key-value exchange
 * ({@code PMIx_Put}, {@code PMIx_Commit}, {@code PMIx_Fence}, {@code PMIx_Get}) that the bootstrap
 * uses instead of a fixed port and a distributed secret. The library is {@code libpmix.so.2}
 * (Debian's {@code libpmix2}, installed with Open MPI), or the file named by RINGATTN_PMIX_LIB.
 *
 * <p>Not thread-safe: one bootstrapping thread uses it, then {@link #close()} finalizes. Strings
 * are UTF-8; the values this client stores are strings.
 */
final class Pmix implements AutoCloseable {
    private static final int PMIX_SUCCESS = 0;
    private static final short PMIX_STRING = 3;
    private static final short PMIX_UINT32 = 14;
    private static final byte PMIX_GLOBAL = 3;
    private static final int NSPACE_BYTES = 256;
    private static final long PROC_BYTES = 260;
    private static final long VALUE_BYTES = 64; // sizeof(pmix_value_t) is 32 in PMIx 4
    private static final int RANK_WILDCARD = -2; // UINT32_MAX - 1
    private static final String[] LIBRARIES = {"libpmix.so.2", "/usr/lib/x86_64-linux-gnu/pmix2/lib/libpmix.so.2",
        "/usr/lib64/libpmix.so.2", "/usr/lib/aarch64-linux-gnu/pmix2/lib/libpmix.so.2"};

    private final Arena arena = Arena.ofShared();
    private final MethodHandle init;
    private final MethodHandle finalizeCall;
    private final MethodHandle put;
    private final MethodHandle commit;
    private final MethodHandle fence;
    private final MethodHandle get;
    private final MethodHandle errorString;
    private final String namespace;
    private final int rank;
    private final int size;
    private final int localSize;
    private boolean finalized;

    /** Whether this process was started by a PMIx launcher (its environment says so). */
    static boolean launchedByPmix(Map<String, String> env) {
        return env.containsKey("PMIX_RANK") && env.containsKey("PMIX_NAMESPACE");
    }

    /** Connects to the launcher's PMIx server; throws a {@link ConfigurationException} saying what failed. */
    static Pmix init(Map<String, String> env) {
        SymbolLookup lib = load(env).orElseThrow(() -> new ConfigurationException("bootstrap: pmix: cannot load "
                + (env.containsKey("RINGATTN_PMIX_LIB") ? env.get("RINGATTN_PMIX_LIB") : "libpmix.so.2")
                + " (install libpmix2, which comes with openmpi-bin, or set RINGATTN_PMIX_LIB; or use "
                + "--bootstrap coordinator)"));
        return new Pmix(lib);
    }

    private static Optional<SymbolLookup> load(Map<String, String> env) {
        List<String> candidates = new ArrayList<>();
        if (env.containsKey("RINGATTN_PMIX_LIB")) {
            candidates.add(env.get("RINGATTN_PMIX_LIB"));
        } else {
            candidates.addAll(List.of(LIBRARIES));
        }
        for (String c : candidates) {
            if (c.contains("/") && !Files.exists(Path.of(c))) {
                continue;
            }
            try {
                return Optional.of(SymbolLookup.libraryLookup(c, Arena.global()));
            } catch (IllegalArgumentException | IllegalCallerException e) {
                // not this one
            }
        }
        return Optional.empty();
    }

    private Pmix(SymbolLookup lib) {
        Linker linker = Linker.nativeLinker();
        AddressLayout ptr = ValueLayout.ADDRESS;
        ValueLayout.OfInt status = ValueLayout.JAVA_INT;
        ValueLayout.OfLong sizeT = ValueLayout.JAVA_LONG;
        init = handle(linker, lib, "PMIx_Init", FunctionDescriptor.of(status, ptr, ptr, sizeT));
        finalizeCall = handle(linker, lib, "PMIx_Finalize", FunctionDescriptor.of(status, ptr, sizeT));
        put = handle(linker, lib, "PMIx_Put", FunctionDescriptor.of(status, ValueLayout.JAVA_BYTE, ptr, ptr));
        commit = handle(linker, lib, "PMIx_Commit", FunctionDescriptor.of(status));
        fence = handle(linker, lib, "PMIx_Fence", FunctionDescriptor.of(status, ptr, sizeT, ptr, sizeT));
        get = handle(linker, lib, "PMIx_Get", FunctionDescriptor.of(status, ptr, ptr, ptr, sizeT, ptr));
        errorString = handle(linker, lib, "PMIx_Error_string", FunctionDescriptor.of(ptr, status));
        MemorySegment proc = arena.allocate(PROC_BYTES, 8);
        check("PMIx_Init", call(init, proc, MemorySegment.NULL, 0L));
        namespace = proc.getString(0, StandardCharsets.UTF_8);
        rank = proc.get(ValueLayout.JAVA_INT, NSPACE_BYTES);
        size = (int) getUint32(RANK_WILDCARD, "pmix.job.size");
        int local;
        try {
            local = (int) getUint32(RANK_WILDCARD, "pmix.local.size");
        } catch (ConfigurationException e) {
            local = -1; // unknown: assume the job spans hosts
        }
        localSize = local;
        if (size < 1 || rank < 0 || rank >= size) {
            throw new ConfigurationException("bootstrap: pmix: rank " + rank + " of a job of " + size + " processes");
        }
    }

    private static MethodHandle handle(Linker linker, SymbolLookup lib, String name, FunctionDescriptor d) {
        return linker.downcallHandle(lib.find(name).orElseThrow(() -> new ConfigurationException(
                "bootstrap: pmix: the library has no " + name + " (PMIx >= 4 needed)")), d);
    }

    String namespace() {
        return namespace;
    }

    int rank() {
        return rank;
    }

    int size() {
        return size;
    }

    /** Whether every process of the job runs on this host (so loopback reaches rank 0). */
    boolean allLocal() {
        return localSize == size;
    }

    /** Publishes {@code key = value} to every process of the job (visible after {@link #commitAndFence}). */
    void put(String key, String value) {
        MemorySegment v = arena.allocate(VALUE_BYTES, 8);
        v.set(ValueLayout.JAVA_SHORT, 0, PMIX_STRING);
        v.set(ValueLayout.ADDRESS, 8, arena.allocateFrom(value, StandardCharsets.UTF_8));
        check("PMIx_Put " + key, call(put, PMIX_GLOBAL, arena.allocateFrom(key, StandardCharsets.UTF_8), v));
    }

    /** Commits this process's values and waits for every process of the job to do the same (collective). */
    void commitAndFence() {
        check("PMIx_Commit", call(commit));
        check("PMIx_Fence", call(fence, MemorySegment.NULL, 0L, MemorySegment.NULL, 0L));
    }

    /** The string {@code key} that process {@code of} published. */
    String getString(int of, String key) {
        MemorySegment v = getValue(of, key);
        short type = v.get(ValueLayout.JAVA_SHORT, 0);
        if (type != PMIX_STRING) {
            throw new ConfigurationException("bootstrap: pmix: " + key + " of rank " + of + " has type " + type + ", not a string");
        }
        return v.get(ValueLayout.ADDRESS, 8).reinterpret(1 << 16).getString(0, StandardCharsets.UTF_8);
    }

    private long getUint32(int of, String key) {
        MemorySegment v = getValue(of, key);
        short type = v.get(ValueLayout.JAVA_SHORT, 0);
        if (type != PMIX_UINT32) {
            throw new ConfigurationException("bootstrap: pmix: " + key + " has type " + type + ", not uint32");
        }
        return Integer.toUnsignedLong(v.get(ValueLayout.JAVA_INT, 8));
    }

    /** PMIx allocates the value; PMIx 4 exports no call to free it (a few bytes, once per job). */
    private MemorySegment getValue(int of, String key) {
        MemorySegment proc = arena.allocate(PROC_BYTES, 8);
        byte[] ns = namespace.getBytes(StandardCharsets.UTF_8);
        MemorySegment.copy(ns, 0, proc, ValueLayout.JAVA_BYTE, 0, Math.min(ns.length, NSPACE_BYTES - 1));
        proc.set(ValueLayout.JAVA_INT, NSPACE_BYTES, of);
        MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
        check("PMIx_Get " + key, call(get, proc, arena.allocateFrom(key, StandardCharsets.UTF_8), MemorySegment.NULL, 0L, out));
        return out.get(ValueLayout.ADDRESS, 0).reinterpret(VALUE_BYTES);
    }

    private void check(String what, int status) {
        if (status != PMIX_SUCCESS) {
            String why;
            try {
                why = ((MemorySegment) errorString.invokeExact(status)).reinterpret(256).getString(0, StandardCharsets.UTF_8);
            } catch (Throwable t) {
                why = "status " + status;
            }
            throw new ConfigurationException("bootstrap: pmix: " + what + " failed: " + why + " (" + status + ")");
        }
    }

    private static int call(MethodHandle h, Object... args) {
        try {
            return (int) h.invokeWithArguments(args);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    @Override
    public void close() {
        if (!finalized) {
            finalized = true;
            call(finalizeCall, MemorySegment.NULL, 0L);
            arena.close();
        }
    }
}
