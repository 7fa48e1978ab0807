package ringattn.transport.ucx;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.Base64;
import java.util.EnumSet;
import java.util.HexFormat;
import java.util.Properties;
import java.util.Set;

/**
 * The rendezvous directory: {@code <root>/<jobId>/rank-<r>}, one entry per rank with its host,
 * pid, UCX worker address and (rank 0) control endpoint, signed with the job key. The job
 * directory is the caller's own, mode 0700, never a symbolic link; entries are 0600, written to a
 * new temporary file of an unpredictable name and renamed; an entry is used only after its
 * signature verifies. Entries of dead processes on this host (a crashed job) are removed.
 *
 * <p>Not thread-safe; one per rank.
 */
final class Rendezvous {
    /** What {@link #read} says of a rank that has written no entry. */
    static final String NO_ENTRY = "no rendezvous entry";
    /** The largest entry read, in bytes. */
    static final int MAX_ENTRY = 64 << 10;
    private static final FileAttribute<Set<PosixFilePermission>> DIR_MODE =
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------"));
    private static final FileAttribute<Set<PosixFilePermission>> FILE_MODE =
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"));
    private static final String[] SIGNED = {"rank", "worldSize", "host", "pid", "worker", "control"};

    /** A verified entry. {@code control} is null for ranks other than 0. */
    record Entry(int rank, String host, long pid, byte[] workerAddress, String control) {
    }

    private final Path jobDir;
    private final Handshake.JobKey key;
    private final int worldSize;
    private Path written;

    private Rendezvous(Path jobDir, Handshake.JobKey key, int worldSize) {
        this.jobDir = jobDir;
        this.key = key;
        this.worldSize = worldSize;
    }

    /** Opens (creating if needed) this job's directory under {@code root} and checks it. */
    static Rendezvous open(Path root, Handshake.JobKey key, int worldSize) {
        Path dir = root.resolve(key.jobId());
        try {
            Files.createDirectories(root);
            try {
                Files.createDirectory(dir, DIR_MODE);
            } catch (FileAlreadyExistsException e) {
                // a rank of this job (or a stale one) made it: checked below
            } catch (UnsupportedOperationException e) {
                Files.createDirectories(dir);
            }
            checkOwnDirectory(dir);
        } catch (IOException | SecurityException e) {
            throw new ConfigurationException("rendezvousDir: cannot use " + dir + ": " + e, e);
        }
        return new Rendezvous(dir, key, worldSize);
    }

    /** The job directory must be a real directory owned by this user and private to it. */
    private static void checkOwnDirectory(Path dir) throws IOException {
        PosixFileAttributes a;
        try {
            a = Files.readAttributes(dir, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (UnsupportedOperationException e) {
            return; // not a POSIX file system: nothing more to check
        }
        if (a.isSymbolicLink() || !a.isDirectory()) {
            throw new ConfigurationException("rendezvousDir: " + dir + " is " + (a.isSymbolicLink() ? "a symbolic link" : "not a directory")
                    + "; remove it or choose another RINGATTN_RENDEZVOUS_DIR");
        }
        UserPrincipal me = dir.getFileSystem().getUserPrincipalLookupService()
                .lookupPrincipalByName(System.getProperty("user.name"));
        if (!a.owner().equals(me)) {
            throw new ConfigurationException("rendezvousDir: " + dir + " belongs to " + a.owner().getName()
                    + ", not to " + me.getName() + "; choose another RINGATTN_RENDEZVOUS_DIR or job id");
        }
        Set<PosixFilePermission> open = EnumSet.copyOf(a.permissions());
        open.retainAll(EnumSet.of(PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE,
                PosixFilePermission.GROUP_EXECUTE, PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE,
                PosixFilePermission.OTHERS_EXECUTE));
        if (!open.isEmpty()) {
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
        }
    }

    Path directory() {
        return jobDir;
    }

    /** Writes this rank's entry (temp file + rename). */
    void publish(int rank, String host, byte[] workerAddress, String control) {
        publish(rank, host, ProcessHandle.current().pid(), workerAddress, control);
    }

    /** {@link #publish(int, String, byte[], String)} for process {@code pid}. */
    void publish(int rank, String host, long pid, byte[] workerAddress, String control) {
        removeStale();
        Properties p = new Properties();
        p.setProperty("rank", Integer.toString(rank));
        p.setProperty("worldSize", Integer.toString(worldSize));
        p.setProperty("host", host);
        p.setProperty("pid", Long.toString(pid));
        p.setProperty("worker", Base64.getEncoder().encodeToString(workerAddress));
        if (control != null) {
            p.setProperty("control", control);
        }
        p.setProperty("mac", sign(p));
        Path file = jobDir.resolve("rank-" + rank);
        Path tmp = jobDir.resolve(".rank-" + rank + "." + HexFormat.of().formatHex(Handshake.nonce()) + ".tmp");
        try {
            try (SeekableByteChannel ch = createNew(tmp); OutputStream out = Channels.newOutputStream(ch)) {
                p.store(out, "ringattn rendezvous entry");
            }
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            written = file;
        } catch (IOException | SecurityException e) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // best effort
            }
            throw new ConfigurationException("rendezvousDir: cannot write " + file + ": " + e, e);
        }
    }

    private static SeekableByteChannel createNew(Path tmp) throws IOException {
        Set<StandardOpenOption> o = EnumSet.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        try {
            return Files.newByteChannel(tmp, o, FILE_MODE);
        } catch (UnsupportedOperationException e) {
            return Files.newByteChannel(tmp, o);
        }
    }

    /** What {@link #read} found. Exactly one of entry and problem is set. */
    record Lookup(Entry entry, String problem) {
    }

    /** Rank {@code r}'s entry, verified; or why there is none usable. */
    Lookup read(int r) {
        Path file = jobDir.resolve("rank-" + r);
        Properties p = new Properties();
        try (InputStream in = Files.newInputStream(file, LinkOption.NOFOLLOW_LINKS)) {
            byte[] b = in.readNBytes(MAX_ENTRY + 1);
            if (b.length > MAX_ENTRY) {
                return new Lookup(null, "its rendezvous entry is larger than " + MAX_ENTRY + " bytes");
            }
            p.load(new java.io.StringReader(new String(b, StandardCharsets.ISO_8859_1)));
        } catch (java.nio.file.NoSuchFileException e) {
            return new Lookup(null, NO_ENTRY);
        } catch (IOException | IllegalArgumentException e) {
            return new Lookup(null, "unreadable rendezvous entry (" + Messages.cut(e.getMessage()) + ")");
        }
        String mac = p.getProperty("mac");
        if (mac == null || !java.security.MessageDigest.isEqual(mac.getBytes(StandardCharsets.US_ASCII),
                sign(p).getBytes(StandardCharsets.US_ASCII))) {
            return new Lookup(null, "its rendezvous entry from " + Messages.cut(p.getProperty("host"))
                    + " is signed with a different job secret");
        }
        try {
            int rank = Integer.parseInt(p.getProperty("rank", ""));
            int n = Integer.parseInt(p.getProperty("worldSize", ""));
            if (rank != r || n != worldSize) {
                return new Lookup(null, "its rendezvous entry is for rank " + rank + " of " + n + ", expected rank " + r
                        + " of " + worldSize);
            }
            byte[] worker = Base64.getDecoder().decode(p.getProperty("worker", ""));
            String control = p.getProperty("control");
            if (control != null) {
                parseEndpoint(control);
            }
            return new Lookup(new Entry(rank, p.getProperty("host", "?"), Long.parseLong(p.getProperty("pid", "-1")),
                    worker, control), null);
        } catch (IllegalArgumentException e) {
            return new Lookup(null, "malformed rendezvous entry (" + Messages.cut(e.getMessage()) + ")");
        }
    }

    /** {@code host:port} of a control endpoint; throws IllegalArgumentException when malformed. */
    static java.net.InetSocketAddress parseEndpoint(String ep) {
        int colon = ep.lastIndexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException("control endpoint '" + Messages.cut(ep) + "' is not host:port");
        }
        int port = Integer.parseInt(ep.substring(colon + 1));
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("control endpoint '" + Messages.cut(ep) + "' has a bad port");
        }
        return new java.net.InetSocketAddress(ep.substring(0, colon), port);
    }

    private String sign(Properties p) {
        StringBuilder sb = new StringBuilder();
        for (String k : SIGNED) {
            sb.append('\n').append(k).append('=').append(p.getProperty(k, ""));
        }
        return Base64.getEncoder().encodeToString(key.mac("entry", sb.toString().getBytes(StandardCharsets.UTF_8)));
    }

    /** Removes entries left on this host by processes that no longer run (a crashed job). */
    private void removeStale() {
        String host = TransportOptions.localHostName();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(jobDir, "rank-*")) {
            for (Path f : s) {
                Lookup l = read(parseRank(f));
                if (l.entry() != null && l.entry().host().equals(host) && l.entry().pid() > 0
                        && ProcessHandle.of(l.entry().pid()).isEmpty()) {
                    Files.deleteIfExists(f);
                }
            }
        } catch (IOException | RuntimeException e) {
            // best effort
        }
    }

    private static int parseRank(Path f) {
        try {
            return Integer.parseInt(f.getFileName().toString().substring(5));
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** Removes this rank's entry; rank 0 also removes the job directory once it is empty. */
    void remove(boolean lastOut) {
        try {
            if (written != null) {
                Files.deleteIfExists(written);
                written = null;
            }
            if (lastOut) {
                try (var s = Files.list(jobDir)) {
                    if (s.findAny().isEmpty()) {
                        Files.deleteIfExists(jobDir);
                    }
                }
            }
        } catch (IOException ignored) {
            // best effort
        }
    }
}
