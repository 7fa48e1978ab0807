package ringattn.cuda.ffm;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A shared library looked up by soname (the dynamic loader's own search: {@code LD_LIBRARY_PATH},
 * the ld cache) and in candidate folders, with every attempt recorded. Loading goes through libc's
 * {@code dlopen} so that a failure carries {@code dlerror}'s reason (FFM's
 * {@code SymbolLookup.libraryLookup} hides it); the library then stays loaded for the life of the
 * JVM. Immutable and thread-safe.
 *
 * @param name     what users call it ({@code libcublas})
 * @param lookup   its symbols, when found
 * @param loadedAs the soname or path that loaded, or null
 * @param tried    one line per attempt: the name or path and why it failed
 */
@SuppressWarnings("restricted") // FFM: native access is enabled for this module
public record NativeLibrary(String name, Optional<SymbolLookup> lookup, String loadedAs, List<String> tried) {
    private static final int RTLD_NOW = 2;
    private static final int RTLD_GLOBAL = 0x100;
    private static final MethodHandle DLOPEN;
    private static final MethodHandle DLERROR;

    static {
        Linker linker = Linker.nativeLinker();
        SymbolLookup libc = linker.defaultLookup();
        DLOPEN = libc.find("dlopen").map(s -> linker.downcallHandle(s,
                FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_INT))).orElse(null);
        DLERROR = libc.find("dlerror").map(s -> linker.downcallHandle(s,
                FunctionDescriptor.of(ValueLayout.ADDRESS.withTargetLayout(
                        java.lang.foreign.MemoryLayout.sequenceLayout(4096, ValueLayout.JAVA_BYTE))))).orElse(null);
    }

    public NativeLibrary {
        tried = List.copyOf(tried);
    }

    public boolean found() {
        return lookup.isPresent();
    }

    /** The symbols; throws {@link IllegalStateException} with the attempts when not found. */
    public SymbolLookup require() {
        return lookup.orElseThrow(() -> new IllegalStateException(describe()));
    }

    /** {@code libcublas: loaded from X} or {@code libcublas: not found (tried: …)}. */
    public String describe() {
        return found() ? name + ": " + loadedAs : name + ": not found (tried " + String.join("; ", tried) + ")";
    }

    /**
     * Tries each file {@code dir/soname} in the {@code preferred} folders (explicit overrides), then
     * each soname through the dynamic loader, then the {@code fallback} folders, and returns the
     * first that loads. Folders that do not exist and absent files are recorded as such.
     */
    public static NativeLibrary find(String name, List<String> sonames, List<Path> preferred, List<Path> fallback) {
        List<String> tried = new ArrayList<>();
        Optional<NativeLibrary> hit = inFolders(name, sonames, preferred, tried);
        if (hit.isPresent()) {
            return hit.get();
        }
        for (String soname : sonames) {
            Optional<SymbolLookup> lookup = load(soname, tried);
            if (lookup.isPresent()) {
                return new NativeLibrary(name, lookup, mappedPath(soname).map(p -> p + " (by soname " + soname + ")")
                        .orElse(soname + " (by soname)"), tried);
            }
        }
        return inFolders(name, sonames, fallback, tried)
                .orElseGet(() -> new NativeLibrary(name, Optional.empty(), null, tried));
    }

    private static Optional<NativeLibrary> inFolders(String name, List<String> sonames, List<Path> folders,
                                                     List<String> tried) {
        for (Path dir : folders) {
            if (!Files.isDirectory(dir)) {
                tried.add(dir + "/ (no such folder)");
                continue;
            }
            for (String soname : sonames) {
                Path file = dir.resolve(soname);
                if (!Files.exists(file)) {
                    tried.add(file + " (absent)");
                    continue;
                }
                Optional<SymbolLookup> lookup = load(file.toString(), tried);
                if (lookup.isPresent()) {
                    return Optional.of(new NativeLibrary(name, lookup, file.toString(), tried));
                }
            }
        }
        return Optional.empty();
    }

    /** The folders to search: each existing {@code base/lib64} and {@code base/targets/<arch>/lib}. */
    public static List<Path> cudaFolders(List<Path> bases) {
        List<Path> out = new ArrayList<>();
        for (Path base : bases) {
            out.add(base.resolve("lib64"));
            Path targets = base.resolve("targets");
            if (Files.isDirectory(targets)) {
                try (var s = Files.list(targets)) {
                    s.sorted().forEach(t -> out.add(t.resolve("lib")));
                } catch (java.io.IOException e) {
                    // unreadable: the caller records the folder as missing
                }
            } else {
                out.add(targets.resolve("*/lib"));
            }
        }
        return out;
    }

    /** Where the dynamic loader found {@code soname}, from {@code /proc/self/maps} (Linux). */
    private static Optional<String> mappedPath(String soname) {
        try (var lines = Files.lines(Path.of("/proc/self/maps"))) {
            return lines.map(l -> l.substring(l.lastIndexOf(' ') + 1))
                    .filter(p -> p.startsWith("/") && Path.of(p).getFileName().toString().startsWith(soname))
                    .findFirst();
        } catch (java.io.IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    private static Optional<SymbolLookup> load(String nameOrPath, List<String> tried) {
        if (DLOPEN != null && DLERROR != null) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment handle = (MemorySegment) DLOPEN.invokeExact(arena.allocateFrom(nameOrPath),
                        RTLD_NOW | RTLD_GLOBAL);
                if (handle.equals(MemorySegment.NULL)) {
                    MemorySegment err = (MemorySegment) DLERROR.invokeExact();
                    String why = err.equals(MemorySegment.NULL) ? "dlopen failed" : err.getString(0);
                    tried.add(nameOrPath + " (" + why + ")");
                    return Optional.empty();
                }
            } catch (Throwable t) {
                tried.add(nameOrPath + " (" + t + ")");
                return Optional.empty();
            }
        }
        try {
            // Already loaded by dlopen above (reference counted), so this finds the same handle.
            SymbolLookup lookup = nameOrPath.contains("/")
                    ? SymbolLookup.libraryLookup(Path.of(nameOrPath), Arena.global())
                    : SymbolLookup.libraryLookup(nameOrPath, Arena.global());
            return Optional.of(lookup);
        } catch (IllegalArgumentException e) {
            tried.add(nameOrPath + " (" + e.getMessage() + ")");
            return Optional.empty();
        }
    }
}
