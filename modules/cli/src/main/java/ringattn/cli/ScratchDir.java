package ringattn.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.Comparator;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The scratch directories of {@code demo}, {@code run} and {@code prefill --transport ucx}, where rank 0 leaves every
 * rank's report for the launcher: {@code <java.io.tmpdir>/ringattn-<user>/<kind>-<launcher pid>-<n>},
 * under a parent only the user may enter (0700). The launcher deletes its own when the job ends; when
 * the launcher is killed, its ranks delete it ({@link #deleteNamedIn}, run by their launcher watch), and
 * the next launcher deletes any whose pid no longer runs ({@link #sweepStale}); either also deletes the
 * temporary outputs of {@code run} and {@code prefill} that the directory lists ({@link #recordTempOutputs}), which the dead
 * launcher can no longer commit. Pids are this host's, so
 * {@code java.io.tmpdir} must not be shared between hosts. Stateless.
 */
final class ScratchDir {
    /** The environment variable that names the launcher's scratch directory to its ranks. */
    static final String ENV = "RINGATTN_SCRATCH_DIR";

    private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rwx------");
    private static final Pattern NAME = Pattern.compile("(demo|run|prefill)-(\\d+)-\\d+");
    /** The file in a scratch directory listing the job's temporary outputs, one absolute path a line. */
    static final String TEMP_OUTPUTS = "temp-outputs";
    /** How a temporary output is named ({@code .NAME.ringattn-ID.part}): nothing else is ever deleted from that list. */
    private static final Pattern TEMP_OUTPUT = Pattern.compile("\\..+\\.ringattn-[0-9a-f]{32}\\.part");

    private ScratchDir() {
    }

    /** A new scratch directory for {@code kind} ({@code demo}, {@code run} or {@code prefill}); stale ones are removed first. */
    static Path create(String kind) {
        Path root = root(Path.of(System.getProperty("java.io.tmpdir")));
        sweepStale(root);
        try {
            return Files.createTempDirectory(root, kind + "-" + ProcessHandle.current().pid() + "-");
        } catch (IOException e) {
            throw new UncheckedIOException(kind + ": cannot create a scratch directory in " + root + ": " + e.getMessage(), e);
        }
    }

    /** {@code <tmp>/ringattn-<user>}, created 0700 if missing; refused if it is a link or another user's. */
    static Path root(Path tmp) {
        Path root = tmp.resolve(rootName());
        try {
            try {
                Files.createDirectory(root, PosixFilePermissions.asFileAttribute(OWNER_ONLY));
            } catch (FileAlreadyExistsException e) {
                // checked below
            }
            PosixFileAttributes a = Files.readAttributes(root, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            UserPrincipal me = root.getFileSystem().getUserPrincipalLookupService()
                    .lookupPrincipalByName(System.getProperty("user.name"));
            if (!a.isDirectory() || !a.owner().equals(me)) {
                throw new IOException("not a directory owned by " + me.getName() + " (remove it)");
            }
            if (!a.permissions().equals(OWNER_ONLY)) {
                Files.setPosixFilePermissions(root, OWNER_ONLY);
            }
            return root;
        } catch (IOException e) {
            throw new UncheckedIOException("scratch directory " + root + ": " + e.getMessage(), e);
        }
    }

    /** Deletes the scratch directories in {@code root} whose launcher pid no longer runs. */
    static void sweepStale(Path root) {
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(root)) {
            for (Path p : entries) {
                Matcher m = NAME.matcher(p.getFileName().toString());
                if (m.matches() && !ProcessHandle.of(Long.parseLong(m.group(2))).map(ProcessHandle::isAlive).orElse(false)) {
                    deleteOrphans(p);
                    deleteTree(p);
                }
            }
        } catch (IOException | NumberFormatException e) {
            // a stale directory stays until the next start; never a reason to fail this one
        }
    }

    /**
     * Deletes the scratch directory that {@code env} names in {@value #ENV} (a rank's cleanup when its
     * launcher died); anything not named like a scratch directory in a {@code ringattn-<user>} directory
     * is left alone.
     */
    static void deleteNamedIn(Map<String, String> env) {
        String named = env.get(ENV);
        if (named == null || named.isBlank()) {
            return;
        }
        Path dir = Path.of(named).toAbsolutePath().normalize();
        Path parent = dir.getParent();
        if (parent != null && parent.getFileName() != null && parent.getFileName().toString().equals(rootName())
                && NAME.matcher(dir.getFileName().toString()).matches()) {
            deleteOrphans(dir);
            deleteTree(dir);
        }
    }

    /** Records the job's temporary outputs, so that they are deleted if the launcher dies before it commits them. */
    static void recordTempOutputs(Path dir, java.util.List<Path> temps) {
        try {
            Files.write(dir.resolve(TEMP_OUTPUTS), temps.stream().map(t -> t.toAbsolutePath().toString()).toList());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + dir.resolve(TEMP_OUTPUTS) + ": " + e.getMessage(), e);
        }
    }

    /**
     * Deletes the temporary outputs a dead launcher's scratch directory lists (only files named like
     * one, never through a link): the launcher would have renamed or deleted them. Best effort.
     */
    private static void deleteOrphans(Path dir) {
        Path list = dir.resolve(TEMP_OUTPUTS);
        try {
            if (!Files.isRegularFile(list, LinkOption.NOFOLLOW_LINKS)) {
                return;
            }
            for (String line : Files.readAllLines(list)) {
                Path temp = Path.of(line);
                if (temp.isAbsolute() && temp.getFileName() != null
                        && TEMP_OUTPUT.matcher(temp.getFileName().toString()).matches()
                        && Files.isRegularFile(temp, LinkOption.NOFOLLOW_LINKS)) {
                    Files.deleteIfExists(temp);
                }
            }
        } catch (IOException | RuntimeException e) {
            // best effort: a left temporary output is named to show what it is
        }
    }

    private static String rootName() {
        return "ringattn-" + System.getProperty("user.name", "user").replaceAll("[^A-Za-z0-9._-]", "_");
    }

    /** Deletes {@code dir} and everything in it (links themselves, not their targets); best effort. */
    static void deleteTree(Path dir) {
        if (dir == null || !Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (var files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException ignored) {
                    // best effort
                }
            });
        } catch (IOException | UncheckedIOException ignored) {
            // scratch files only
        }
    }
}
