package ringattn.transport.ucx;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.UserPrincipal;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.openucx.jucx.NativeLibs;

/**
 * Loads jucx's native library without leaving copies of it behind. jucx ({@code NativeLibs}, 1.12.1)
 * copies {@code libjucx.so} out of its jar into a new {@code <java.io.tmpdir>/jucx<digits>/} in every
 * JVM, loads it from there and deletes it only on a normal exit ({@code File.deleteOnExit}), so every
 * killed or halted process left one behind. It offers no setting to unpack once and reuse a copy: the
 * only other path, {@code System.loadLibrary("jucx")} on {@code java.library.path}, is taken when the jar
 * lacks the library, and {@code java.io.tmpdir} moves the copies without making them fewer. So
 * {@link #load} lets jucx load its copy, then deletes it (what is loaded stays mapped and valid once its
 * file is gone); beforehand it removes copies earlier processes left: directories of this user in
 * {@code java.io.tmpdir} named {@code jucx<digits>} that hold nothing but {@code libjucx.so}, are older
 * than {@link #STALE_AFTER} and whose library no running process has mapped (per {@code /proc/PID/maps}).
 * Linux only (elsewhere the clean-up finds nothing to do). Thread-safe; the work is done once per JVM.
 */
public final class JucxLibrary {
    /** A copy younger than this may belong to a process between unpacking and loading it. */
    static final Duration STALE_AFTER = Duration.ofMinutes(1);

    private static final Pattern COPY_DIR = Pattern.compile("jucx\\d+");
    private static final String LIBRARY = "libjucx.so";
    private static boolean done;

    private JucxLibrary() {
    }

    /**
     * Removes stale copies, loads jucx's library and deletes the copy this JVM loaded. A library that
     * does not load (UCX missing) is not an error here: the transport reports it when it starts.
     */
    public static synchronized void load() {
        if (done) {
            return;
        }
        done = true;
        Path tmp = Path.of(System.getProperty("java.io.tmpdir"));
        sweepStale(tmp, Instant.now());
        try {
            NativeLibs.load();
        } catch (LinkageError e) {
            return; // jucx throws the same error again when the transport starts, with its own message
        }
        deleteLoadedCopies(tmp);
    }

    /** Deletes the copies of the library in {@code tmp} that this process has mapped, and their directories. */
    static void deleteLoadedCopies(Path tmp) {
        Path realTmp;
        try {
            realTmp = tmp.toRealPath();
        } catch (IOException e) {
            return;
        }
        for (Path lib : mappedCopies(Path.of("/proc/self/maps"))) {
            Path dir = lib.getParent();
            if (realTmp.equals(dir.getParent())) {
                try {
                    Files.deleteIfExists(lib);
                    Files.deleteIfExists(dir);
                } catch (IOException ignored) {
                    // jucx's own deleteOnExit tries again
                }
            }
        }
    }

    /** Deletes the stale copies in {@code tmp} as of {@code now} (see the class comment). */
    static void sweepStale(Path tmp, Instant now) {
        List<Path> candidates = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(tmp, p -> COPY_DIR.matcher(p.getFileName().toString()).matches())) {
            UserPrincipal me = tmp.getFileSystem().getUserPrincipalLookupService()
                    .lookupPrincipalByName(System.getProperty("user.name"));
            for (Path dir : entries) {
                PosixFileAttributes a = Files.readAttributes(dir, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                if (a.isDirectory() && a.owner().equals(me) && holdsOnlyTheLibrary(dir)
                        && a.lastModifiedTime().toInstant().isBefore(now.minus(STALE_AFTER))) {
                    candidates.add(dir);
                }
            }
        } catch (IOException | UnsupportedOperationException e) {
            return; // no stale copies we can see; never a reason to fail
        }
        if (candidates.isEmpty()) {
            return;
        }
        Set<Path> mapped = mappedByAnyProcess();
        for (Path dir : candidates) {
            Path lib = dir.resolve(LIBRARY);
            try {
                if (!mapped.contains(lib.toRealPath())) {
                    Files.deleteIfExists(lib);
                    Files.deleteIfExists(dir);
                }
            } catch (IOException ignored) {
                // gone meanwhile, or not ours to delete
            }
        }
    }

    private static boolean holdsOnlyTheLibrary(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.allMatch(f -> f.getFileName().toString().equals(LIBRARY));
        }
    }

    /** The copies of the library mapped by the processes whose maps this user may read. */
    private static Set<Path> mappedByAnyProcess() {
        Set<Path> mapped = new HashSet<>();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            procs.filter(p -> p.getFileName().toString().chars().allMatch(Character::isDigit))
                    .forEach(p -> mapped.addAll(mappedCopies(p.resolve("maps"))));
        } catch (IOException | RuntimeException e) {
            // no /proc: nothing known to be mapped
        }
        return mapped;
    }

    /** The paths of {@code libjucx.so} copies (in a {@code jucx<digits>} directory) listed in a maps file. */
    static List<Path> mappedCopies(Path maps) {
        List<Path> found = new ArrayList<>();
        List<String> lines;
        try {
            lines = Files.readAllLines(maps);
        } catch (IOException | RuntimeException e) {
            return found; // the process ended, or is not ours
        }
        for (String line : lines) {
            int slash = line.indexOf('/');
            if (slash < 0 || !line.endsWith("/" + LIBRARY)) {
                continue; // anonymous, or not the library (a deleted file ends in " (deleted)")
            }
            Path lib = Path.of(line.substring(slash));
            Path dir = lib.getParent();
            if (dir != null && dir.getFileName() != null && COPY_DIR.matcher(dir.getFileName().toString()).matches()
                    && !found.contains(lib)) {
                found.add(lib);
            }
        }
        return found;
    }
}
