package ringattn.io;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Builds a GGUF file (version 3 unless told otherwise): metadata in the order given, tensors packed
 * in the order given, each at the next multiple of the alignment ({@code general.alignment} when
 * put, else 32). The data is referenced, not copied, until {@link #toBytes} or {@link #write}. Not
 * thread-safe.
 */
public final class GgufWriter {
    private final int version;
    private final Map<String, GgufValue> metadata = new LinkedHashMap<>();
    private final List<Pending> tensors = new ArrayList<>();
    private long alignment = GgufParser.DEFAULT_ALIGNMENT;

    private record Pending(String name, GgmlType type, long[] dims, MemorySegment data) {
    }

    /** A version 3 file. */
    public GgufWriter() {
        this(3);
    }

    /** A file of {@code version} 2 or 3 (their layouts are the same). */
    public GgufWriter(int version) {
        if (version != 2 && version != 3) {
            throw new IllegalArgumentException("version: 2 or 3, got " + version);
        }
        this.version = version;
    }

    /** Adds metadata {@code key}; a {@code general.alignment} value (a uint32 power of two) sets the alignment. */
    public GgufWriter put(String key, GgufValue value) {
        if (metadata.containsKey(key)) {
            throw new IllegalArgumentException("key: '" + key + "' was already put");
        }
        if (key.equals(GgufParser.ALIGNMENT_KEY)) {
            long a = value.type() == GgufValueType.UINT32 ? (Long) value.scalar() : 0;
            if (a == 0 || Long.bitCount(a) != 1) {
                throw new IllegalArgumentException(key + ": expected a uint32 power of two, got " + value);
            }
            alignment = a;
        }
        metadata.put(key, value);
        return this;
    }

    /**
     * Adds a tensor of ggml dimensions {@code dims} (fastest-varying first) whose encoded bytes are
     * {@code data} (exactly the size the type and dimensions give).
     */
    public GgufWriter tensor(String name, GgmlType type, long[] dims, MemorySegment data) {
        if (tensors.stream().anyMatch(p -> p.name.equals(name))) {
            throw new IllegalArgumentException("name: tensor '" + name + "' was already added");
        }
        if (dims.length < 1 || dims.length > GgufParser.MAX_DIMS || dims[0] % type.blockSize() != 0) {
            throw new IllegalArgumentException("dims: " + Arrays.toString(dims) + " for " + type);
        }
        long n = 1;
        for (long d : dims) {
            n = Math.multiplyExact(n, d);
        }
        long bytes = n / type.blockSize() * type.blockBytes();
        if (data.byteSize() != bytes) {
            throw new IllegalArgumentException("data: " + data.byteSize() + " bytes, " + type + " " + Arrays.toString(dims)
                    + " needs " + bytes);
        }
        tensors.add(new Pending(name, type, dims.clone(), data));
        return this;
    }

    /** The header: everything up to the data section, padded to the alignment. */
    private byte[] header() {
        ByteSink out = new ByteSink();
        out.u32(GgufParser.MAGIC).u32(version).u64(tensors.size()).u64(metadata.size());
        for (Map.Entry<String, GgufValue> e : metadata.entrySet()) {
            out.string(e.getKey()).u32(e.getValue().type().id());
            e.getValue().encode(out);
        }
        long offset = 0;
        for (Pending t : tensors) {
            out.string(t.name).u32(t.dims.length);
            for (long d : t.dims) {
                out.u64(d);
            }
            out.u32(t.type.id()).u64(offset);
            offset = align(offset + t.data.byteSize());
        }
        return out.pad(alignment).toArray();
    }

    private long align(long n) {
        return (n + alignment - 1) / alignment * alignment;
    }

    /** The whole file in memory (for small files: tests, tiny models). */
    public byte[] toBytes() {
        byte[] header = header();
        long total = header.length;
        for (Pending t : tensors) {
            total = align(total + t.data.byteSize());
        }
        byte[] out = new byte[Math.toIntExact(total)];
        System.arraycopy(header, 0, out, 0, header.length);
        long at = header.length;
        for (Pending t : tensors) {
            MemorySegment.copy(t.data, 0, MemorySegment.ofArray(out), at, t.data.byteSize());
            at = align(at + t.data.byteSize());
        }
        return out;
    }

    /** Writes the file to {@code target} atomically (a temporary file, then a rename). */
    public void write(Path target) {
        try (AtomicFile out = AtomicFile.create(target)) {
            byte[] header = header();
            out.write(ByteBuffer.wrap(header));
            long at = header.length;
            for (Pending t : tensors) {
                out.write(t.data);
                long next = align(at + t.data.byteSize());
                out.write(MemorySegment.ofArray(new byte[(int) (next - at - t.data.byteSize())]));
                at = next;
            }
            out.commit();
        }
    }

    /** {@code data} as little-endian fp32 bytes (a helper for F32 tensors). */
    public static MemorySegment f32(float... data) {
        MemorySegment s = MemorySegment.ofArray(new byte[4 * data.length]);
        MemorySegment.copy(data, 0, s, ArrayData.F32_LE, 0, data.length);
        return s;
    }

    /** {@code data} as bytes (a helper for hand-made encodings). */
    public static MemorySegment bytes(byte... data) {
        return MemorySegment.ofArray(data.clone()).asReadOnly();
    }
}
