package ringattn.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * An output file laid out before its data is computed: one npy array or several safetensors
 * tensors, header first, data at fixed offsets. {@link #create} makes a temporary file in the
 * target's directory under an unpredictable name (created new, never through a symbolic link,
 * owner-only until the commit; see {@link TempFiles}); other processes of the job that write parts
 * of it {@link #open} it by its {@link #tempId()}, which the creator passes on. The data is filled
 * through read-write mappings, and the creator renames the file over the target by
 * {@link #commit()}; {@link #close()} before a commit deletes it. Offsets are deterministic, so
 * every process sees the same layout. Not thread-safe; callers write disjoint bytes.
 */
public final class OutputFile implements AutoCloseable {
    private static final String TAG = "ringattn";
    private static final int CREATE_ATTEMPTS = 8;

    private final Path target;
    private final String tempId;
    private final Path temp;
    private final Layout layout;
    private final FileChannel channel;
    private final boolean creator;
    private boolean committed;
    private boolean closed;

    private OutputFile(Path target, String tempId, Layout layout, FileChannel channel, boolean creator) {
        this.target = target;
        this.tempId = tempId;
        this.temp = TempFiles.path(target, TAG, tempId);
        this.layout = layout;
        this.channel = channel;
        this.creator = creator;
    }

    /** The header and data offsets of a file's arrays. */
    private record Layout(byte[] header, Map<String, Long> offsets, Map<String, ArraySpec> arrays, long totalBytes) {
        static Layout of(Path target, boolean safetensors, Map<String, ArraySpec> arrays) {
            byte[] header;
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
            Map<String, Long> offsets = new LinkedHashMap<>();
            long off = header.length;
            for (Map.Entry<String, ArraySpec> e : arrays.entrySet()) {
                offsets.put(e.getKey(), off);
                off += e.getValue().byteSize();
            }
            return new Layout(header, offsets, new LinkedHashMap<>(arrays), off);
        }
    }

    /** A job id no other process on this host uses: {@code prefix-pid-time}. Not secret. */
    public static String newJobId(String prefix) {
        return prefix + "-" + ProcessHandle.current().pid() + "-" + Long.toHexString(System.nanoTime());
    }

    /**
     * Creates the temporary file (header written, data zero) for {@code target}.
     *
     * @throws FileFormatException naming {@code target} (not the temporary file) when it cannot be created
     */
    public static OutputFile create(Path target, boolean safetensors, Map<String, ArraySpec> arrays) {
        Path dir = AtomicFile.directoryFor(target);
        Layout layout = Layout.of(target, safetensors, arrays);
        for (int attempt = 1; ; attempt++) {
            String id = TempFiles.newId();
            Path temp = TempFiles.path(target, TAG, id);
            FileChannel ch;
            try {
                ch = TempFiles.createNew(temp);
            } catch (FileAlreadyExistsException e) {
                if (attempt < CREATE_ATTEMPTS) {
                    continue;
                }
                throw new FileFormatException(target, "cannot write: " + TempFiles.reason(e) + " in directory " + dir, e);
            } catch (IOException e) {
                throw new FileFormatException(target, "cannot write: " + TempFiles.reason(e) + " in directory " + dir, e);
            }
            OutputFile f = new OutputFile(target, id, layout, ch, true);
            try {
                ByteBuffer h = ByteBuffer.wrap(layout.header);
                while (h.hasRemaining()) {
                    ch.write(h);
                }
                if (layout.totalBytes > layout.header.length) {
                    ch.write(ByteBuffer.wrap(new byte[1]), layout.totalBytes - 1);
                }
                return f;
            } catch (IOException e) {
                f.close();
                throw new FileFormatException(target, "cannot write: " + TempFiles.reason(e), e);
            }
        }
    }

    /**
     * The same layout over the temporary file another process {@linkplain #create created} with id
     * {@code tempId}. The file is opened read-write without following a symbolic link, and must hold
     * exactly the layout's bytes and header.
     */
    public static OutputFile open(Path target, String tempId, boolean safetensors, Map<String, ArraySpec> arrays) {
        if (!TempFiles.isId(tempId)) {
            throw new FileFormatException(target, "malformed temporary output id '" + tempId + "' (expected 32 hex digits)");
        }
        Layout layout = Layout.of(target, safetensors, arrays);
        Path temp = TempFiles.path(target, TAG, tempId);
        FileChannel ch;
        try {
            ch = TempFiles.openExisting(temp);
        } catch (NoSuchFileException e) {
            throw new FileFormatException(target, "temporary output " + temp + " is missing (is the directory "
                    + "shared by every rank?)");
        } catch (IOException e) {
            throw new FileFormatException(target, "cannot open temporary output " + temp + ": " + TempFiles.reason(e), e);
        }
        OutputFile f = new OutputFile(target, tempId, layout, ch, false);
        try {
            ByteBuffer h = ByteBuffer.allocate(layout.header.length);
            while (h.hasRemaining() && ch.read(h, h.position()) >= 0) {
                // reads the header
            }
            if (ch.size() != layout.totalBytes || !Arrays.equals(h.array(), layout.header)) {
                throw new FileFormatException(target, "temporary output " + temp + " does not hold this job's layout");
            }
            return f;
        } catch (IOException e) {
            f.close();
            throw new FileFormatException(target, "cannot read temporary output " + temp + ": " + TempFiles.reason(e), e);
        } catch (RuntimeException e) {
            f.close();
            throw e;
        }
    }

    /** The target path. */
    public Path target() {
        return target;
    }

    /** The random part of the temporary file's name: what other processes pass to {@link #open}. */
    /** The temporary file this output is written to until {@code commit} renames it (absolute). */
    public Path tempPath() {
        return temp;
    }

    public String tempId() {
        return tempId;
    }

    /** The arrays in file order. */
    public Map<String, ArraySpec> arrays() {
        return new LinkedHashMap<>(layout.arrays);
    }

    /** A read-write mapping of array {@code name}'s data in {@code arena} (valid after {@link #close()}). */
    public MemorySegment map(String name, Arena arena) {
        Long off = layout.offsets.get(name);
        if (off == null) {
            throw new IllegalArgumentException("name: no array '" + name + "' in " + target);
        }
        long length = layout.arrays.get(name).byteSize();
        if (length == 0) {
            return MemorySegment.ofArray(new byte[0]);
        }
        try {
            return channel.map(FileChannel.MapMode.READ_WRITE, off, length, arena);
        } catch (IOException e) {
            throw new FileFormatException(target, "cannot map for writing: " + TempFiles.reason(e), e);
        }
    }

    /**
     * Flushes the file (every process's writes to it) to the device and renames it over the target.
     * Only the creator commits.
     */
    public void commit() {
        if (!creator) {
            throw new IllegalStateException("commit: only the process that created " + temp + " renames it");
        }
        try {
            TempFiles.publish(channel, temp, target);
            committed = true;
            closed = true;
        } catch (IOException e) {
            throw new FileFormatException(target, "cannot finish writing: " + TempFiles.reason(e), e);
        }
    }

    /**
     * Closes the file; the creator deletes the temporary file unless it committed it. Mappings stay
     * valid until their arena closes. Idempotent.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            channel.close();
        } catch (IOException ignored) {
            // nothing to save: a creator deletes the file next
        }
        if (creator && !committed) {
            TempFiles.deleteQuietly(temp);
        }
    }
}
