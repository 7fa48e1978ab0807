package ringattn.io;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Map;

/**
 * A GGUF file (llama.cpp's format), versions 2 and 3, little-endian: the magic {@code GGUF}, a
 * uint32 version, uint64 tensor and metadata counts, the metadata key/value pairs
 * ({@link GgufMetadata}), the tensor table ({@link GgufTensor}: name, ggml dimensions, type, offset),
 * then, at the next multiple of {@code general.alignment} (default 32), the data section.
 *
 * <p>The file is untrusted: every count, length, dimension and offset is bounded and checked before
 * use (against the bytes left, for overflow, for alignment, for overlap with another tensor), strings
 * must be UTF-8, keys and tensor names unique; anything else is a {@link FileFormatException} naming
 * the file and what was wrong, on one line. Tensor data stays in the mapping: {@link #data} is a view,
 * {@link #dequantizeRows} widens F32, F16, BF16 and Q8_0 rows to fp32. Immutable and thread-safe;
 * valid while the memory it was parsed from is.
 */
public final class Gguf {
    private final Path file;
    private final MemorySegment bytes;
    private final int version;
    private final long alignment;
    private final GgufMetadata metadata;
    private final Map<String, GgufTensor> tensors;
    private final long dataStart;
    private final long dataLength;

    Gguf(Path file, MemorySegment bytes, int version, long alignment, GgufMetadata metadata,
         Map<String, GgufTensor> tensors, long dataStart, long dataLength) {
        this.file = file;
        this.bytes = bytes;
        this.version = version;
        this.alignment = alignment;
        this.metadata = metadata;
        this.tensors = Collections.unmodifiableMap(tensors);
        this.dataStart = dataStart;
        this.dataLength = dataLength;
    }

    /** Maps {@code file} read-only into {@code arena} (which owns the mapping) and parses it. */
    public static Gguf read(Path file, Arena arena) {
        return parse(file, MappedFile.readOnly(file, arena));
    }

    /** Parses a GGUF file held in {@code bytes}; {@code file} names it in messages. */
    public static Gguf parse(Path file, MemorySegment bytes) {
        return new GgufParser(file, bytes).parse();
    }

    public Path file() {
        return file;
    }

    /** 2 or 3. */
    public int version() {
        return version;
    }

    /** The data alignment in bytes: {@code general.alignment}, or 32. */
    public long alignment() {
        return alignment;
    }

    public GgufMetadata metadata() {
        return metadata;
    }

    /** The tensor table by name, in file order. */
    public Map<String, GgufTensor> tensors() {
        return tensors;
    }

    /** The tensor {@code name}; a {@link FileFormatException} when there is none. */
    public GgufTensor tensor(String name) {
        GgufTensor t = tensors.get(name);
        if (t == null) {
            throw new FileFormatException(file, "no tensor named '" + Snippet.of(name) + "'");
        }
        return t;
    }

    /** Where the data section starts, bytes from the start of the file. */
    public long dataOffset() {
        return dataStart;
    }

    /** The bytes of tensor {@code t} (of this file): a view, no copy. */
    public MemorySegment data(GgufTensor t) {
        check(t);
        return bytes.asSlice(dataStart + t.offset(), t.byteSize());
    }

    /**
     * Widens rows {@code [firstRow, firstRow + rows)} of tensor {@code t} (rows of
     * {@link GgufTensor#rowLength()} elements) to little-endian fp32 at {@code dst + dstOffset}.
     * Exact for F32, F16 and BF16; Q8_0 gives {@code fp16 scale × int8}, each a float product.
     *
     * @throws FileFormatException when the tensor's type is not F32, F16, BF16 or Q8_0
     */
    public void dequantizeRows(GgufTensor t, long firstRow, long rows, MemorySegment dst, long dstOffset) {
        check(t);
        if (!t.type().isDequantizable()) {
            throw new FileFormatException(file, "tensor '" + Snippet.of(t.name()) + "': ggml type " + t.type()
                    + " cannot be read (supported: " + GgmlType.dequantizable() + ")");
        }
        if (firstRow < 0 || rows < 0 || firstRow > t.rows() - rows) {
            throw new IndexOutOfBoundsException("rows [" + firstRow + ", +" + rows + ") of a tensor of " + t.rows());
        }
        long n = t.rowLength();
        long rowBytes = n / t.type().blockSize() * t.type().blockBytes();
        MemorySegment src = data(t).asSlice(firstRow * rowBytes, rows * rowBytes);
        dequantize(t.type(), src, rows * n, dst.asSlice(dstOffset, 4 * rows * n));
    }

    /** Every element of tensor {@code t} as fp32, in storage order (row-major over {@link GgufTensor#shape()}). */
    public float[] floats(GgufTensor t) {
        if (t.elementCount() > GgufMetadata.MAX_JAVA_ARRAY / 4) {
            throw new IllegalArgumentException("tensor '" + Snippet.of(t.name()) + "': " + t.elementCount()
                    + " elements are too many for one array");
        }
        float[] out = new float[(int) t.elementCount()];
        MemorySegment le = MemorySegment.ofArray(new byte[4 * out.length]);
        dequantizeRows(t, 0, t.rows(), le, 0);
        MemorySegment.copy(le, ArrayData.F32_LE, 0, out, 0, out.length);
        return out;
    }

    private void check(GgufTensor t) {
        if (!t.equals(tensors.get(t.name()))) {
            throw new IllegalArgumentException("tensor " + t + " is not one of " + file + "'s");
        }
    }

    private static void dequantize(GgmlType type, MemorySegment src, long count, MemorySegment dst) {
        switch (type) {
            case F32 -> MemorySegment.copy(src, 0, dst, 0, 4 * count);
            case F16 -> {
                for (long i = 0; i < count; i++) {
                    dst.setAtIndex(ArrayData.F32_LE, i, Float.float16ToFloat(src.getAtIndex(ArrayData.I16_LE, i)));
                }
            }
            case BF16 -> {
                for (long i = 0; i < count; i++) {
                    dst.setAtIndex(ArrayData.F32_LE, i, Float.intBitsToFloat(src.getAtIndex(ArrayData.I16_LE, i) << 16));
                }
            }
            case Q8_0 -> {
                int block = GgmlType.Q8_0.blockSize();
                int blockBytes = GgmlType.Q8_0.blockBytes();
                for (long b = 0; b < count / block; b++) {
                    long at = b * blockBytes;
                    float d = Float.float16ToFloat(src.get(ArrayData.I16_LE, at));
                    for (int i = 0; i < block; i++) {
                        dst.setAtIndex(ArrayData.F32_LE, b * block + i, d * src.get(ValueLayout.JAVA_BYTE, at + 2 + i));
                    }
                }
            }
            default -> throw new IllegalStateException(type + " is not dequantizable");
        }
    }
}
