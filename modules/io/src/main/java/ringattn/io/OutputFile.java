package ringattn.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * An output file laid out before its data is computed: one npy array or several safetensors
 * tensors, header first, data at fixed offsets. The file is created under a temporary name in the
 * target's directory (a name every process of a job can compute from the job id), filled through
 * read-write mappings, possibly by several processes, and renamed over the target by
 * {@link #commit()}. {@link #delete()} removes the temporary file. Offsets are deterministic, so
 * {@link #open} in another process sees the same layout. Not thread-safe; callers write disjoint
 * bytes.
 */
public final class OutputFile {
    private final Path target;
    private final Path temp;
    private final byte[] header;
    private final Map<String, Long> offsets = new LinkedHashMap<>();
    private final Map<String, ArraySpec> arrays;
    private final long totalBytes;

    private OutputFile(Path target, Path temp, boolean safetensors, Map<String, ArraySpec> arrays) {
        this.target = target;
        this.temp = temp;
        this.arrays = new LinkedHashMap<>(arrays);
        if (safetensors) {
            header = Safetensors.header(arrays, Map.of());
        } else {
            if (arrays.size() != 1) {
                throw new IllegalArgumentException("arrays: an .npy file holds exactly one array");
            }
            ArraySpec a = arrays.values().iterator().next();
            if (a.type().npyDescr() == null) {
                throw new FileFormatException(target, "NumPy cannot store " + a.type() + "; write a .safetensors file");
            }
            header = Npy.header(a.type(), a.shape());
        }
        long off = header.length;
        for (Map.Entry<String, ArraySpec> e : arrays.entrySet()) {
            offsets.put(e.getKey(), off);
            off += e.getValue().byteSize();
        }
        totalBytes = off;
    }

    /** A job id no other process on this host uses: {@code prefix-pid-time}. */
    public static String newJobId(String prefix) {
        return prefix + "-" + ProcessHandle.current().pid() + "-" + Long.toHexString(System.nanoTime());
    }

    /** The temporary name used for {@code target} by job {@code jobId}. */
    public static Path tempPath(Path target, String jobId) {
        Path abs = target.toAbsolutePath();
        String safe = jobId.replaceAll("[^A-Za-z0-9._-]", "_");
        return abs.resolveSibling("." + abs.getFileName() + ".ringattn-" + safe + ".part");
    }

    /** Creates the temporary file (header written, data zero) for {@code target}. */
    public static OutputFile create(Path target, String jobId, boolean safetensors, Map<String, ArraySpec> arrays) {
        AtomicFile.directoryFor(target);
        OutputFile f = new OutputFile(target, tempPath(target, jobId), safetensors, arrays);
        try (var ch = java.nio.channels.FileChannel.open(f.temp, StandardOpenOption.CREATE,
                StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
            ByteBuffer h = ByteBuffer.wrap(f.header);
            while (h.hasRemaining()) {
                ch.write(h);
            }
            if (f.totalBytes > f.header.length) {
                ch.write(ByteBuffer.wrap(new byte[1]), f.totalBytes - 1);
            }
        } catch (IOException e) {
            f.delete();
            throw new FileFormatException(target, "cannot write: " + e.getMessage(), e);
        }
        return f;
    }

    /** The same layout over a temporary file another process created. */
    public static OutputFile open(Path target, String jobId, boolean safetensors, Map<String, ArraySpec> arrays) {
        OutputFile f = new OutputFile(target, tempPath(target, jobId), safetensors, arrays);
        if (!Files.isRegularFile(f.temp)) {
            throw new FileFormatException(target, "temporary output " + f.temp + " is missing (is the directory "
                    + "shared by every rank?)");
        }
        return f;
    }

    /** The target path. */
    public Path target() {
        return target;
    }

    /** The arrays in file order. */
    public Map<String, ArraySpec> arrays() {
        return new LinkedHashMap<>(arrays);
    }

    /** A read-write mapping of array {@code name}'s data in {@code arena}. */
    public MemorySegment map(String name, Arena arena) {
        Long off = offsets.get(name);
        if (off == null) {
            throw new IllegalArgumentException("name: no array '" + name + "' in " + target);
        }
        return MappedFile.readWrite(temp, off, arrays.get(name).byteSize(), arena);
    }

    /** Flushes and renames the temporary file over the target. */
    public void commit() {
        try (var ch = java.nio.channels.FileChannel.open(temp, StandardOpenOption.WRITE)) {
            ch.force(true);
        } catch (IOException e) {
            throw new FileFormatException(target, "cannot finish writing: " + e.getMessage(), e);
        }
        try {
            try {
                Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw new FileFormatException(target, "cannot finish writing: " + e.getMessage(), e);
        }
    }

    /** Deletes the temporary file (after a failure). Idempotent. */
    public void delete() {
        try {
            Files.deleteIfExists(temp);
        } catch (IOException ignored) {
            // best effort
        }
    }
}
