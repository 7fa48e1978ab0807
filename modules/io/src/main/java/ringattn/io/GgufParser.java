package ringattn.io;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a GGUF header from untrusted bytes. Every count, length, dimension and offset is checked
 * against the bytes that are left (or the data section) before anything is allocated or read, so a
 * hostile file costs time and memory in proportion to its size, and fails with a one-line
 * {@link FileFormatException}. One instance per parse; not thread-safe.
 */
final class GgufParser {
    static final int MAGIC = 0x46554747; // "GGUF" little-endian
    static final long DEFAULT_ALIGNMENT = 32;
    static final String ALIGNMENT_KEY = "general.alignment";
    /** ggml's GGML_MAX_DIMS. */
    static final int MAX_DIMS = 4;
    /** Longest metadata key, bytes. */
    static final long MAX_KEY_BYTES = 64 << 10;
    /** Longest tensor name, bytes (ggml's own limit is 63). */
    static final long MAX_NAME_BYTES = 256;
    /** Strings over all metadata arrays (a vocabulary and its merges take well under a million). */
    static final long MAX_ARRAY_STRINGS = 1L << 22;
    /** Smallest encodings, for bounding counts by the bytes left: key length, 1-byte key, type, 1-byte value. */
    private static final long MIN_KV_BYTES = 8 + 1 + 4 + 1;
    /** Name length, 1-byte name, n_dims, one dimension, type, offset. */
    private static final long MIN_TENSOR_BYTES = 8 + 1 + 4 + 8 + 4 + 8;

    private final Path file;
    private final MemorySegment bytes;
    private final long size;
    private final CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
    private long pos;
    private long arrayStringsLeft = MAX_ARRAY_STRINGS;

    GgufParser(Path file, MemorySegment bytes) {
        this.file = file;
        this.bytes = bytes;
        this.size = bytes.byteSize();
    }

    private FileFormatException bad(String problem) {
        return new FileFormatException(file, problem);
    }

    Gguf parse() {
        if (size < 4 || bytes.get(ArrayData.I32_LE, 0) != MAGIC) {
            throw bad("not a GGUF file (it does not start with 'GGUF')");
        }
        pos = 4;
        int version = (int) u32("the version");
        if (version != 2 && version != 3) {
            if (Integer.reverseBytes(version) == 2 || Integer.reverseBytes(version) == 3) {
                throw bad("big-endian GGUF is not supported");
            }
            throw bad("GGUF version " + Integer.toUnsignedString(version) + " is not supported (2 and 3 are)");
        }
        long tensorCount = count("the tensor count", MIN_TENSOR_BYTES);
        long kvCount = count("the metadata count", MIN_KV_BYTES);
        Map<String, GgufValue> values = new LinkedHashMap<>();
        for (long i = 0; i < kvCount; i++) {
            String key = string(MAX_KEY_BYTES, "metadata key #" + i);
            if (key.isEmpty()) {
                throw bad("metadata key #" + i + " is empty");
            }
            if (values.containsKey(key)) {
                throw bad("metadata '" + Snippet.of(key) + "' appears twice");
            }
            values.put(key, value(key));
        }
        GgufMetadata metadata = new GgufMetadata(file, values);
        long alignment = alignment(metadata);
        List<GgufTensor> infos = new ArrayList<>();
        Map<String, GgufTensor> tensors = new LinkedHashMap<>();
        for (long i = 0; i < tensorCount; i++) {
            GgufTensor t = tensorInfo(i);
            if (tensors.putIfAbsent(t.name(), t) != null) {
                throw bad("tensor '" + Snippet.of(t.name()) + "' appears twice");
            }
            infos.add(t);
        }
        long dataStart = pos + (alignment - pos % alignment) % alignment;
        long dataLength = Math.max(0, size - dataStart);
        if (!infos.isEmpty() && dataStart > size) {
            throw bad("the data section would start at byte " + dataStart + ", past the end of the file (" + size
                    + " bytes; truncated?)");
        }
        checkLayout(infos, alignment, dataLength);
        return new Gguf(file, bytes, version, alignment, metadata, tensors, dataStart, dataLength);
    }

    private long alignment(GgufMetadata metadata) {
        GgufValue v = metadata.get(ALIGNMENT_KEY);
        if (v == null) {
            return DEFAULT_ALIGNMENT;
        }
        if (v.type() != GgufValueType.UINT32) {
            throw bad("metadata '" + ALIGNMENT_KEY + "': expected a uint32, got " + v.describe());
        }
        long a = (Long) v.scalar();
        if (a == 0 || Long.bitCount(a) != 1) {
            throw bad("metadata '" + ALIGNMENT_KEY + "': " + a + " is not a power of two");
        }
        return a;
    }

    private GgufTensor tensorInfo(long i) {
        String name = string(MAX_NAME_BYTES, "the name of tensor #" + i);
        if (name.isEmpty()) {
            throw bad("tensor #" + i + " has an empty name");
        }
        String where = "tensor '" + Snippet.of(name) + "': ";
        long nDims = u32(where + "the number of dimensions");
        if (nDims < 1 || nDims > MAX_DIMS) {
            throw bad(where + nDims + " dimensions (1 to " + MAX_DIMS + " are allowed)");
        }
        long[] dims = new long[(int) nDims];
        for (int d = 0; d < nDims; d++) {
            dims[d] = u64(where + "dimension " + d);
            if (dims[d] < 0) {
                throw bad(where + "dimension " + d + " (" + Long.toUnsignedString(dims[d]) + ") is absurdly large");
            }
        }
        long typeId = u32(where + "the type");
        GgmlType type = GgmlType.of(typeId);
        if (type == null) {
            throw bad(where + "unknown ggml type " + typeId);
        }
        long offset = u64(where + "the offset");
        if (offset < 0) {
            throw bad(where + "offset " + Long.toUnsignedString(offset) + " is absurdly large");
        }
        if (dims[0] % type.blockSize() != 0) {
            throw bad(where + "first dimension " + dims[0] + " is not a multiple of the " + type + " block size "
                    + type.blockSize());
        }
        long byteSize;
        try {
            long elements = 1;
            for (long d : dims) {
                elements = Math.multiplyExact(elements, d);
            }
            byteSize = Math.multiplyExact(elements / type.blockSize(), (long) type.blockBytes());
        } catch (ArithmeticException e) {
            throw bad(where + "shape " + Arrays.toString(dims) + " overflows a 64-bit byte size");
        }
        return new GgufTensor(name, type, dims, offset, byteSize);
    }

    /** Aligned, inside the data section, and no two tensors share a byte. */
    private void checkLayout(List<GgufTensor> infos, long alignment, long dataLength) {
        for (GgufTensor t : infos) {
            if (t.offset() % alignment != 0) {
                throw bad("tensor '" + Snippet.of(t.name()) + "': offset " + t.offset() + " is not a multiple of the alignment "
                        + alignment);
            }
            if (t.offset() > dataLength || t.byteSize() > dataLength - t.offset()) {
                throw bad("tensor '" + Snippet.of(t.name()) + "': bytes [" + t.offset() + ", +" + t.byteSize()
                        + ") lie outside the " + dataLength + "-byte data section (truncated file?)");
            }
        }
        List<GgufTensor> byOffset = new ArrayList<>(infos);
        byOffset.removeIf(t -> t.byteSize() == 0);
        byOffset.sort(Comparator.comparingLong(GgufTensor::offset));
        for (int i = 1; i < byOffset.size(); i++) {
            GgufTensor a = byOffset.get(i - 1);
            GgufTensor b = byOffset.get(i);
            if (a.offset() + a.byteSize() > b.offset()) {
                throw bad("tensors '" + Snippet.of(a.name()) + "' and '" + Snippet.of(b.name()) + "' overlap");
            }
        }
    }

    private GgufValue value(String key) {
        String where = "metadata '" + Snippet.of(key) + "'";
        long typeId = u32(where + ": the type");
        GgufValueType type = GgufValueType.of(typeId);
        if (type == null) {
            throw bad(where + ": unknown value type " + typeId);
        }
        if (type != GgufValueType.ARRAY) {
            return GgufValue.parsed(type, scalar(type, where));
        }
        long elemId = u32(where + ": the array's element type");
        GgufValueType elem = GgufValueType.of(elemId);
        if (elem == null) {
            throw bad(where + ": unknown array element type " + elemId);
        }
        if (elem == GgufValueType.ARRAY) {
            throw bad(where + ": arrays of arrays are not supported");
        }
        long minBytes = elem == GgufValueType.STRING ? 8 : elem.byteSize();
        long n = u64(where + ": the array length");
        if (n < 0 || n > (size - pos) / minBytes) {
            throw bad(where + ": " + Long.toUnsignedString(n) + " elements cannot fit in the " + (size - pos)
                    + " bytes left (truncated or corrupt file?)");
        }
        if (elem != GgufValueType.STRING) {
            MemorySegment view = bytes.asSlice(pos, n * minBytes);
            if (elem == GgufValueType.BOOL) {
                for (long i = 0; i < n; i++) {
                    checkBool(view.get(ValueLayout.JAVA_BYTE, i), where + "[" + i + "]");
                }
            }
            pos += n * minBytes;
            return GgufValue.fixedArray(elem, n, view);
        }
        if (n > arrayStringsLeft) {
            throw bad(where + ": " + n + " strings exceed the limit of " + MAX_ARRAY_STRINGS + " strings in all arrays");
        }
        arrayStringsLeft -= n;
        List<String> strings = new ArrayList<>((int) n);
        for (long i = 0; i < n; i++) {
            strings.add(string(size, where + "[" + i + "]"));
        }
        return GgufValue.strings(strings);
    }

    private Object scalar(GgufValueType type, String where) {
        return switch (type) {
            case STRING -> string(size, where);
            case BOOL -> checkBool(bytes.get(ValueLayout.JAVA_BYTE, need(1, where)), where) == 1;
            case FLOAT32 -> bytes.get(ArrayData.F32_LE, need(4, where));
            case FLOAT64 -> bytes.get(GgufValue.F64_LE, need(8, where));
            case UINT8 -> Byte.toUnsignedLong(bytes.get(ValueLayout.JAVA_BYTE, need(1, where)));
            case INT8 -> (long) bytes.get(ValueLayout.JAVA_BYTE, need(1, where));
            case UINT16 -> Short.toUnsignedLong(bytes.get(ArrayData.I16_LE, need(2, where)));
            case INT16 -> (long) bytes.get(ArrayData.I16_LE, need(2, where));
            case UINT32 -> u32(where);
            case INT32 -> (long) bytes.get(ArrayData.I32_LE, need(4, where));
            case UINT64, INT64 -> u64(where);
            case ARRAY -> throw new IllegalStateException("not a scalar");
        };
    }

    private byte checkBool(byte b, String where) {
        if (b != 0 && b != 1) {
            throw bad(where + ": bool byte " + Byte.toUnsignedInt(b) + " is neither 0 nor 1");
        }
        return b;
    }

    /** Claims {@code n} bytes at the cursor and returns where they start. */
    private long need(long n, String what) {
        if (n > size - pos) {
            throw bad("truncated: " + what + " needs " + n + " bytes at offset " + pos + ", the file has " + size + " bytes");
        }
        long at = pos;
        pos += n;
        return at;
    }

    private long u32(String what) {
        return Integer.toUnsignedLong(bytes.get(ArrayData.I32_LE, need(4, what)));
    }

    /** A uint64 as its bits (negative: above {@code Long.MAX_VALUE}). */
    private long u64(String what) {
        return bytes.get(ArrayData.I64_LE, need(8, what));
    }

    /** A uint64 count of items of at least {@code minBytes} bytes each, bounded by the bytes left. */
    private long count(String what, long minBytes) {
        long n = u64(what);
        if (n < 0 || n > (size - pos) / minBytes) {
            throw bad(what + " " + Long.toUnsignedString(n) + " cannot fit in the " + (size - pos)
                    + " bytes left (truncated or corrupt file?)");
        }
        return n;
    }

    /** A uint64 length and that many bytes of UTF-8, at most {@code maxBytes}. */
    private String string(long maxBytes, String what) {
        long n = u64(what + ": the length");
        if (n < 0 || n > size - pos) {
            throw bad("truncated: " + what + " claims " + Long.toUnsignedString(n) + " bytes at offset " + pos
                    + ", the file has " + size + " bytes");
        }
        if (n > maxBytes || n > GgufMetadata.MAX_JAVA_ARRAY) {
            throw bad(what + ": " + n + " bytes is over the " + Math.min(maxBytes, GgufMetadata.MAX_JAVA_ARRAY)
                    + "-byte limit");
        }
        long at = need(n, what);
        try {
            return utf8.reset().decode(bytes.asSlice(at, n).asByteBuffer()).toString();
        } catch (CharacterCodingException e) {
            throw bad(what + ": not valid UTF-8");
        }
    }
}
