package ringattn.model.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The {@code .npy} format (version 1.0/2.0/3.0 reading, 1.0 writing): token id files in, float32
 * logits out. Errors are {@link IOException}s naming the file and the problem.
 */
public final class Npy {
    private static final Pattern DESCR = Pattern.compile("'descr'\\s*:\\s*'([^']*)'");
    private static final Pattern FORTRAN = Pattern.compile("'fortran_order'\\s*:\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("'shape'\\s*:\\s*\\(([^)]*)\\)");

    private Npy() {
    }

    /** A parsed header: dtype descriptor, shape and the byte offset of the data. */
    public record Header(String descr, long[] shape, long dataOffset) {
        public long elementCount() {
            long n = 1;
            for (long d : shape) {
                n = Math.multiplyExact(n, d);
            }
            return n;
        }
    }

    /** Reads and parses the header of {@code path}. */
    public static Header readHeader(Path path, MemorySegment file) throws IOException {
        if (file.byteSize() < 10 || file.get(ValueLayout.JAVA_BYTE, 0) != (byte) 0x93
                || !new String(file.asSlice(1, 5).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.US_ASCII).equals("NUMPY")) {
            throw new IOException(path + ": not a .npy file (missing \\x93NUMPY magic)");
        }
        int major = file.get(ValueLayout.JAVA_BYTE, 6);
        long headerLen;
        long start;
        if (major == 1) {
            headerLen = Short.toUnsignedInt(file.get(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 8));
            start = 10;
        } else if (major == 2 || major == 3) {
            headerLen = Integer.toUnsignedLong(file.get(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 8));
            start = 12;
        } else {
            throw new IOException(path + ": unsupported .npy version " + major);
        }
        if (start + headerLen > file.byteSize()) {
            throw new IOException(path + ": truncated .npy header");
        }
        String h = new String(file.asSlice(start, headerLen).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.ISO_8859_1);
        Matcher d = DESCR.matcher(h);
        Matcher f = FORTRAN.matcher(h);
        Matcher s = SHAPE.matcher(h);
        if (!d.find() || !f.find() || !s.find()) {
            throw new IOException(path + ": bad .npy header: " + h.strip());
        }
        if (f.group(1).equals("True")) {
            throw new IOException(path + ": fortran_order arrays are not supported");
        }
        String[] dims = s.group(1).split(",");
        long[] shape = Arrays.stream(dims).map(String::strip).filter(x -> !x.isEmpty()).mapToLong(Long::parseLong).toArray();
        return new Header(d.group(1), shape, start + headerLen);
    }

    /**
     * Reads token ids: a 1-D array (or 2-D {@code [1, S]}) of {@code int8/16/32/64} or
     * {@code uint8/16/32}, little-endian. Throws naming the file when the dtype, shape or a value
     * (negative, above {@code Integer.MAX_VALUE}) is wrong.
     */
    public static int[] readTokens(Path path) throws IOException {
        try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            MemorySegment file = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            Header h = readHeader(path, file);
            if (!(h.shape().length == 1 || (h.shape().length == 2 && h.shape()[0] == 1))) {
                throw new IOException(path + ": token ids must be 1-D [S] or [1, S], got shape " + Arrays.toString(h.shape()));
            }
            String descr = h.descr();
            int bytes;
            boolean unsigned;
            switch (descr) {
                case "|i1", "i1" -> { bytes = 1; unsigned = false; }
                case "|u1", "u1" -> { bytes = 1; unsigned = true; }
                case "<i2" -> { bytes = 2; unsigned = false; }
                case "<u2" -> { bytes = 2; unsigned = true; }
                case "<i4" -> { bytes = 4; unsigned = false; }
                case "<u4" -> { bytes = 4; unsigned = true; }
                case "<i8" -> { bytes = 8; unsigned = false; }
                default -> throw new IOException(path + ": token ids must be little-endian integers (<i4, <i8, ...), got dtype '"
                        + descr + "'");
            }
            long n = h.elementCount();
            if (n > Integer.MAX_VALUE || h.dataOffset() + n * bytes > file.byteSize()) {
                throw new IOException(path + ": " + n + " elements of " + bytes + " bytes do not fit the file ("
                        + file.byteSize() + " bytes)");
            }
            int[] out = new int[(int) n];
            MemorySegment data = file.asSlice(h.dataOffset());
            for (int i = 0; i < out.length; i++) {
                long v = switch (bytes) {
                    case 1 -> unsigned ? Byte.toUnsignedInt(data.get(ValueLayout.JAVA_BYTE, i)) : data.get(ValueLayout.JAVA_BYTE, i);
                    case 2 -> {
                        short x = data.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i);
                        yield unsigned ? Short.toUnsignedInt(x) : x;
                    }
                    case 4 -> {
                        int x = data.getAtIndex(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i);
                        yield unsigned ? Integer.toUnsignedLong(x) : x;
                    }
                    default -> data.getAtIndex(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i);
                };
                if (v < 0 || v > Integer.MAX_VALUE) {
                    throw new IOException(path + ": token id " + v + " at index " + i + " is out of range");
                }
                out[i] = (int) v;
            }
            return out;
        }
    }

    /** Writes a 1-D int32 array (token ids) to {@code path}, atomically. */
    public static void writeTokens(Path path, int[] tokens) throws IOException {
        byte[] header = header("<i4", tokens.length);
        Path tmp = tempBeside(path);
        try {
            try (Arena arena = Arena.ofConfined();
                 FileChannel ch = FileChannel.open(tmp, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                MemorySegment m = ch.map(FileChannel.MapMode.READ_WRITE, 0, header.length + 4L * tokens.length, arena);
                MemorySegment.copy(header, 0, m, ValueLayout.JAVA_BYTE, 0, header.length);
                for (int i = 0; i < tokens.length; i++) {
                    m.set(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), header.length + 4L * i, tokens[i]);
                }
                m.force();
            }
            Files.move(tmp, path, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** A version 1.0 header for a C-order array, padded so that the data starts 64-byte aligned. */
    public static byte[] header(String descr, long... shape) {
        StringBuilder s = new StringBuilder("(");
        for (int i = 0; i < shape.length; i++) {
            s.append(i > 0 ? ", " : "").append(shape[i]);
        }
        s.append(shape.length == 1 ? ",)" : ")");
        StringBuilder dict = new StringBuilder("{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + s + ", }");
        while ((10 + dict.length() + 1) % 64 != 0) {
            dict.append(' ');
        }
        dict.append('\n');
        byte[] d = dict.toString().getBytes(StandardCharsets.US_ASCII);
        byte[] out = new byte[10 + d.length];
        out[0] = (byte) 0x93;
        System.arraycopy("NUMPY".getBytes(StandardCharsets.US_ASCII), 0, out, 1, 5);
        out[6] = 1;
        out[7] = 0;
        out[8] = (byte) (d.length & 0xFF);
        out[9] = (byte) (d.length >>> 8);
        System.arraycopy(d, 0, out, 10, d.length);
        return out;
    }

    /** A fresh temporary file in the directory of {@code path} (so a rename onto it is atomic). */
    public static Path tempBeside(Path path) throws IOException {
        Path dir = path.toAbsolutePath().getParent();
        return Files.createTempFile(dir, "." + path.getFileName(), ".tmp");
    }

    /**
     * A float32 {@code [rows, cols]} .npy file being written in place: created as a temporary file
     * beside its final path, memory-mapped read-write so that several ranks (threads or processes)
     * can each write their own rows, then {@link #commit() committed} by an atomic rename. Closing an
     * uncommitted file deletes the temporary file.
     */
    public static final class Float32Matrix implements AutoCloseable {
        private final Path target;
        private final Path temp;
        private final Arena arena;
        private final MemorySegment data;
        private final boolean owner;
        private boolean committed;

        private Float32Matrix(Path target, Path temp, Arena arena, MemorySegment data, boolean owner) {
            this.target = target;
            this.temp = temp;
            this.arena = arena;
            this.data = data;
            this.owner = owner;
        }

        /** Creates the temporary file for {@code target} with its header and room for the data. */
        public static Float32Matrix create(Path target, int rows, int cols) throws IOException {
            Path temp = tempBeside(target);
            try {
                byte[] header = header("<f4", rows, cols);
                try (FileChannel ch = FileChannel.open(temp, StandardOpenOption.WRITE)) {
                    ch.write(java.nio.ByteBuffer.wrap(header));
                    long total = header.length + 4L * rows * cols;
                    if (total > header.length) {
                        ch.write(java.nio.ByteBuffer.allocate(1), total - 1);
                    }
                }
                return map(target, temp, rows, cols, true);
            } catch (IOException | RuntimeException e) {
                Files.deleteIfExists(temp);
                throw e;
            }
        }

        /** Maps the data of a temporary file made by {@link #create} (in another process) to write rows. */
        public static Float32Matrix attach(Path temp, int rows, int cols) throws IOException {
            return map(null, temp, rows, cols, false);
        }

        private static Float32Matrix map(Path target, Path temp, int rows, int cols, boolean owner) throws IOException {
            long offset = header("<f4", rows, cols).length;
            Arena arena = Arena.ofShared();
            try (FileChannel ch = FileChannel.open(temp, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                long bytes = 4L * rows * cols;
                if (ch.size() != offset + bytes) {
                    throw new IOException(temp + ": " + ch.size() + " bytes, expected " + (offset + bytes)
                            + " for float32 [" + rows + ", " + cols + "]");
                }
                MemorySegment data = bytes == 0 ? MemorySegment.NULL.reinterpret(0)
                        : ch.map(FileChannel.MapMode.READ_WRITE, offset, bytes, arena);
                return new Float32Matrix(target, temp, arena, data, owner);
            } catch (IOException | RuntimeException e) {
                arena.close();
                throw e;
            }
        }

        /** The temporary file (to hand to other processes). */
        public Path temp() {
            return temp;
        }

        /** The data, {@code rows*cols} little-endian floats, row-major. */
        public MemorySegment data() {
            return data;
        }

        /** Flushes and atomically renames the temporary file onto the target. */
        public void commit() throws IOException {
            if (!owner) {
                throw new IllegalStateException("commit: only the creator of " + temp + " commits it");
            }
            if (data.byteSize() > 0) {
                data.force();
            }
            arena.close();
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            committed = true;
        }

        /** Unmaps; the creator also deletes the temporary file unless committed. Idempotent. */
        @Override
        public void close() throws IOException {
            if (arena.scope().isAlive()) {
                if (!owner && data.byteSize() > 0) {
                    data.force();
                }
                arena.close();
            }
            if (owner && !committed) {
                Files.deleteIfExists(temp);
            }
        }
    }

    /** Reads a float32 2-D .npy file fully (for tests and tools): {@code float[rows][cols]}. */
    public static float[][] readFloat32Matrix(Path path) throws IOException {
        try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            MemorySegment file = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            Header h = readHeader(path, file);
            if (!h.descr().equals("<f4") || h.shape().length != 2) {
                throw new IOException(path + ": expected float32 [rows, cols], got " + h.descr() + " " + Arrays.toString(h.shape()));
            }
            int rows = (int) h.shape()[0];
            int cols = (int) h.shape()[1];
            float[][] out = new float[rows][cols];
            for (int r = 0; r < rows; r++) {
                MemorySegment.copy(file, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN),
                        h.dataOffset() + 4L * r * cols, out[r], 0, cols);
            }
            return out;
        }
    }
}
