package ringattn.io;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.EnumSet;
import java.util.HexFormat;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Temporary files beside an output file: named {@code .<name>.<tag>-<id>.part} with a random
 * 128-bit {@code id} (so nobody can plant a file or link at the name in advance), created new and
 * never through a symbolic link, owner-only (0600) while being written where the file system is
 * POSIX, and published by a rename over the target with the mode a newly created file gets
 * (0666 minus the umask). Stateless and thread-safe.
 */
final class TempFiles {
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Pattern ID = Pattern.compile("[0-9a-f]{32}");
    private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rw-------");
    private static final Set<OpenOption> CREATE_NEW = Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
            StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS);
    private static final Set<OpenOption> OPEN_EXISTING = Set.of(StandardOpenOption.READ, StandardOpenOption.WRITE,
            LinkOption.NOFOLLOW_LINKS);

    private TempFiles() {
    }

    /** A new random id: 32 lowercase hex digits. */
    static String newId() {
        byte[] b = new byte[16];
        RANDOM.nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    /** True when {@code id} has the form {@link #newId()} gives. */
    static boolean isId(String id) {
        return id != null && ID.matcher(id).matches();
    }

    /** The temporary file for {@code target} (absolute, in the target's directory). */
    static Path path(Path target, String tag, String id) {
        Path abs = target.toAbsolutePath();
        return abs.resolveSibling("." + abs.getFileName() + "." + tag + "-" + id + ".part");
    }

    /**
     * Creates {@code temp}, which must not exist (not even as a dangling link): owner-only where the
     * file system is POSIX. The caller owns the channel.
     */
    static FileChannel createNew(Path temp) throws IOException {
        if (isPosix(temp)) {
            return FileChannel.open(temp, CREATE_NEW, PosixFilePermissions.asFileAttribute(OWNER_ONLY));
        }
        return FileChannel.open(temp, CREATE_NEW);
    }

    /** Opens an existing {@code temp} read-write; fails when it is a symbolic link. The caller owns the channel. */
    static FileChannel openExisting(Path temp) throws IOException {
        return FileChannel.open(temp, OPEN_EXISTING);
    }

    /**
     * Flushes {@code channel} (of {@code temp}) to the device, gives {@code temp} the mode of a
     * new file, closes the channel and renames {@code temp} over {@code target}.
     */
    static void publish(FileChannel channel, Path temp, Path target) throws IOException {
        try (channel) {
            channel.force(true);
            Set<PosixFilePermission> mode = NewFileMode.MODE;
            if (mode != null && isPosix(temp)) {
                try {
                    Files.getFileAttributeView(temp, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS)
                            .setPermissions(mode);
                } catch (IOException | UnsupportedOperationException ignored) {
                    // a file system that refuses chmod: the output keeps the owner-only mode
                }
            }
        }
        try {
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** Deletes {@code temp} if it exists; errors are ignored (a leftover hidden file is harmless). */
    static void deleteQuietly(Path temp) {
        if (temp == null) {
            return;
        }
        try {
            Files.deleteIfExists(temp);
        } catch (IOException ignored) {
            // best effort
        }
    }

    /** A short reason for {@code e} that does not name the temporary file (the caller names the target). */
    static String reason(IOException e) {
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof NoSuchFileException) {
            return "no such file or directory";
        }
        if (e instanceof FileAlreadyExistsException) {
            return "a file already exists at the temporary name";
        }
        if (e instanceof FileSystemException f && f.getReason() != null) {
            return f.getReason();
        }
        return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    }

    private static boolean isPosix(Path p) {
        return p.getFileSystem().supportedFileAttributeViews().contains("posix");
    }

    /** The mode of a new file: 0666 minus this process's umask (Linux), or null when unknown. */
    private static final class NewFileMode {
        static final Set<PosixFilePermission> MODE = read();

        private static Set<PosixFilePermission> read() {
            try {
                for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                    if (line.startsWith("Umask:")) {
                        int umask = Integer.parseInt(line.substring("Umask:".length()).trim(), 8);
                        return fromBits(0666 & ~umask);
                    }
                }
            } catch (IOException | RuntimeException ignored) {
                // not Linux, or an old kernel: outputs keep the owner-only mode
            }
            return null;
        }

        private static Set<PosixFilePermission> fromBits(int bits) {
            Set<PosixFilePermission> s = EnumSet.noneOf(PosixFilePermission.class);
            PosixFilePermission[] order = {PosixFilePermission.OTHERS_EXECUTE, PosixFilePermission.OTHERS_WRITE,
                    PosixFilePermission.OTHERS_READ, PosixFilePermission.GROUP_EXECUTE, PosixFilePermission.GROUP_WRITE,
                    PosixFilePermission.GROUP_READ, PosixFilePermission.OWNER_EXECUTE, PosixFilePermission.OWNER_WRITE,
                    PosixFilePermission.OWNER_READ};
            for (int i = 0; i < order.length; i++) {
                if ((bits & (1 << i)) != 0) {
                    s.add(order[i]);
                }
            }
            return s;
        }
    }
}
