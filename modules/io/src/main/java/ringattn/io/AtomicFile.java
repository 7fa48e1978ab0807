package ringattn.io;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * An output file written to a temporary file in the target's directory and renamed over the target
 * by {@link #commit()}, so readers see either no file or the whole file. {@link #close()} without a
 * commit deletes the temporary file. The temporary file has an unpredictable name, is created new
 * (never through an existing file or symbolic link) and is owner-only until the commit gives it the
 * mode of a new file (see {@link TempFiles}). Not thread-safe; one writer.
 */
public final class AtomicFile implements AutoCloseable {
    private static final long CHUNK_BYTES = 1L << 30;
    private static final int CREATE_ATTEMPTS = 8;

    private final Path target;
    private final Path temp;
    private final FileChannel channel;
    private boolean committed;

    private AtomicFile(Path target, Path temp, FileChannel channel) {
        this.target = target;
        this.temp = temp;
        this.channel = channel;
    }

    /**
     * Creates the temporary file next to {@code target}.
     *
     * @throws FileFormatException naming {@code target} (not the temporary file) when it cannot be created
     */
    public static AtomicFile create(Path target) {
        Path dir = directoryFor(target);
        for (int attempt = 1; ; attempt++) {
            Path temp = TempFiles.path(target, "tmp", TempFiles.newId());
            try {
                return new AtomicFile(target, temp, TempFiles.createNew(temp));
            } catch (FileAlreadyExistsException e) {
                if (attempt == CREATE_ATTEMPTS) {
                    throw new FileFormatException(target, "cannot write: " + TempFiles.reason(e) + " in directory " + dir, e);
                }
            } catch (IOException e) {
                throw new FileFormatException(target, "cannot write: " + TempFiles.reason(e) + " in directory " + dir, e);
            }
        }
    }

    /**
     * The existing directory a new file {@code target} goes into (absolute).
     *
     * @throws FileFormatException when there is no such directory or {@code target} is a directory
     */
    static Path directoryFor(Path target) {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new FileFormatException(target, "cannot write: directory " + dir + " does not exist");
        }
        if (Files.isDirectory(abs)) {
            throw new FileFormatException(target, "cannot write: it is a directory");
        }
        return dir;
    }

    /** The target path. */
    public Path target() {
        return target;
    }

    /** The temporary file (for other processes that write parts of it before the commit). */
    public Path tempPath() {
        return temp;
    }

    /** The temporary file's channel (read-write). */
    public FileChannel channel() {
        return channel;
    }

    /** Appends {@code bytes} at the channel's position. */
    public void write(ByteBuffer bytes) {
        try {
            while (bytes.hasRemaining()) {
                channel.write(bytes);
            }
        } catch (IOException e) {
            throw new FileFormatException(target, "write failed: " + e, e);
        }
    }

    /** Appends a native memory segment, in chunks of at most 1 GiB. */
    public void write(MemorySegment data) {
        for (long off = 0; off < data.byteSize(); off += CHUNK_BYTES) {
            long n = Math.min(CHUNK_BYTES, data.byteSize() - off);
            MemorySegment part = data.asSlice(off, n);
            write(part.isNative() ? part.asByteBuffer() : ByteBuffer.wrap(part.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)));
        }
    }

    /** Flushes the data to the device and renames the temporary file over the target. */
    public void commit() {
        try {
            TempFiles.publish(channel, temp, target);
            committed = true;
        } catch (IOException e) {
            throw new FileFormatException(target, "cannot finish writing: " + TempFiles.reason(e), e);
        }
    }

    /** Deletes the temporary file unless committed. Idempotent. */
    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // nothing to save: the file is deleted next
        }
        if (!committed) {
            TempFiles.deleteQuietly(temp);
        }
    }
}
