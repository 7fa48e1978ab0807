package ringattn.model.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A safetensors file, memory-mapped read-only: an 8-byte little-endian header length, a JSON header
 * {@code {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}}, then the data
 * (offsets relative to its start). Owns the mapping; {@link #close()} unmaps it, after which the
 * segments it handed out are unusable. Thread-safe for reading.
 */
public final class Safetensors implements AutoCloseable {
    /** Largest header accepted, in bytes (the format's own limit is 100 MB). */
    public static final long MAX_HEADER_BYTES = 100L << 20;

    /**
     * One tensor: its name, the safetensors dtype string ({@code F32}, {@code BF16}, {@code F16},
     * ...), its shape and its bytes.
     */
    public record Entry(String name, String dtype, long[] shape, MemorySegment data) {
        /** {@code [d0, d1, ...]}. */
        public String shapeString() {
            return Arrays.toString(shape);
        }

        /** Number of elements. */
        public long elementCount() {
            long n = 1;
            for (long d : shape) {
                n = Math.multiplyExact(n, d);
            }
            return n;
        }
    }

    private final Path path;
    private final Arena arena;
    private final Map<String, Entry> entries;
    private final Map<String, String> metadata;

    private Safetensors(Path path, Arena arena, Map<String, Entry> entries, Map<String, String> metadata) {
        this.path = path;
        this.arena = arena;
        this.entries = entries;
        this.metadata = metadata;
    }

    /** Maps {@code path} and parses its header; throws {@link IOException} naming the file and the problem. */
    public static Safetensors open(Path path) throws IOException {
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw new IOException(path + ": not a safetensors file (" + size + " bytes, shorter than the 8-byte header length)");
            }
            MemorySegment all = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            long headerLen = all.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
            if (headerLen <= 0 || headerLen > MAX_HEADER_BYTES || 8 + headerLen > size) {
                throw new IOException(path + ": not a safetensors file (header length " + headerLen + ", file "
                        + size + " bytes)");
            }
            String header = new String(all.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
            Object parsed;
            try {
                parsed = Json.parse(header.strip());
            } catch (IllegalArgumentException e) {
                throw new IOException(path + ": bad safetensors header: " + e.getMessage(), e);
            }
            if (!(parsed instanceof Map<?, ?> map)) {
                throw new IOException(path + ": bad safetensors header: not a JSON object");
            }
            MemorySegment data = all.asSlice(8 + headerLen);
            Map<String, Entry> entries = new LinkedHashMap<>();
            Map<String, String> meta = new LinkedHashMap<>();
            for (Map.Entry<?, ?> e : map.entrySet()) {
                String name = (String) e.getKey();
                if (name.equals("__metadata__")) {
                    if (e.getValue() instanceof Map<?, ?> m) {
                        m.forEach((k, v) -> meta.put(String.valueOf(k), String.valueOf(v)));
                    }
                    continue;
                }
                entries.put(name, entry(path, name, e.getValue(), data));
            }
            return new Safetensors(path, arena, Collections.unmodifiableMap(entries), Collections.unmodifiableMap(meta));
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static Entry entry(Path path, String name, Object value, MemorySegment data) throws IOException {
        if (!(value instanceof Map<?, ?> m) || !(m.get("dtype") instanceof String dtype)
                || !(m.get("shape") instanceof List<?> shapeList) || !(m.get("data_offsets") instanceof List<?> offs)
                || offs.size() != 2) {
            throw new IOException(path + ": tensor '" + name + "': header entry needs dtype, shape and data_offsets");
        }
        long[] shape = new long[shapeList.size()];
        for (int k = 0; k < shape.length; k++) {
            shape[k] = ((Number) shapeList.get(k)).longValue();
            if (shape[k] < 0) {
                throw new IOException(path + ": tensor '" + name + "': negative dimension in shape " + shapeList);
            }
        }
        long begin = ((Number) offs.get(0)).longValue();
        long end = ((Number) offs.get(1)).longValue();
        if (begin < 0 || end < begin || end > data.byteSize()) {
            throw new IOException(path + ": tensor '" + name + "': data_offsets [" + begin + ", " + end
                    + "] outside the " + data.byteSize() + " data bytes");
        }
        Entry entry = new Entry(name, dtype, shape, data.asSlice(begin, end - begin));
        int elementBytes = elementBytes(dtype);
        if (elementBytes > 0 && entry.elementCount() * elementBytes != end - begin) {
            throw new IOException(path + ": tensor '" + name + "': " + (end - begin) + " bytes for shape "
                    + entry.shapeString() + " " + dtype + " (expected " + entry.elementCount() * elementBytes + ")");
        }
        return entry;
    }

    /** Bytes per element of a safetensors dtype, or 0 when unknown. */
    public static int elementBytes(String dtype) {
        return switch (dtype) {
            case "F64", "I64", "U64" -> 8;
            case "F32", "I32", "U32" -> 4;
            case "F16", "BF16", "I16", "U16" -> 2;
            case "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2" -> 1;
            default -> 0;
        };
    }

    public Path path() {
        return path;
    }

    /** Tensors by name, in header order. */
    public Map<String, Entry> entries() {
        return entries;
    }

    /** The {@code __metadata__} map (empty when absent). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Unmaps the file. Idempotent. */
    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }

    /**
     * Writes {@code entries} (name, dtype, shape and bytes each) as one safetensors file, through a
     * temporary file in the same directory and an atomic rename. Data is 8-byte aligned.
     */
    public static void write(Path path, List<Entry> entries, Map<String, String> metadata) throws IOException {
        StringBuilder h = new StringBuilder("{");
        if (metadata != null && !metadata.isEmpty()) {
            h.append(Json.quote("__metadata__")).append(":{");
            boolean first = true;
            for (Map.Entry<String, String> m : metadata.entrySet()) {
                h.append(first ? "" : ",").append(Json.quote(m.getKey())).append(':').append(Json.quote(m.getValue()));
                first = false;
            }
            h.append('}');
        }
        long offset = 0;
        for (Entry e : entries) {
            long n = e.data().byteSize();
            h.append(h.length() > 1 ? "," : "").append(Json.quote(e.name())).append(":{\"dtype\":")
                    .append(Json.quote(e.dtype())).append(",\"shape\":[");
            for (int k = 0; k < e.shape().length; k++) {
                h.append(k > 0 ? "," : "").append(e.shape()[k]);
            }
            h.append("],\"data_offsets\":[").append(offset).append(',').append(offset + n).append("]}");
            offset += n;
        }
        h.append('}');
        while ((8 + h.length()) % 8 != 0) {
            h.append(' ');
        }
        byte[] header = h.toString().getBytes(StandardCharsets.UTF_8);
        Path dir = path.toAbsolutePath().getParent();
        Path tmp = Files.createTempFile(dir, "." + path.getFileName(), ".tmp");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length);
                writeFully(ch, len);
                writeFully(ch, ByteBuffer.wrap(header));
                for (Entry e : entries) {
                    writeFully(ch, e.data().asByteBuffer());
                }
                ch.force(true);
            }
            Files.move(tmp, path, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }
}
