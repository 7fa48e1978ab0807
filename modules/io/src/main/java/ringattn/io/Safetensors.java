package ringattn.io;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;

/**
 * safetensors files: an 8-byte little-endian header length N, N bytes of UTF-8 JSON mapping tensor
 * names to {@code {"dtype", "shape", "data_offsets": [begin, end]}} (offsets relative to the end of
 * the header; an optional {@code "__metadata__"} string map), then the data. Supported dtypes: those of
 * {@link ElementType}. The writer pads the header with spaces to a multiple of 8 bytes. Stateless and
 * thread-safe.
 */
public final class Safetensors {
    /** Largest header accepted, bytes (the reference implementation's limit). */
    static final long MAX_HEADER_BYTES = 100L << 20;
    private static final String METADATA = "__metadata__";

    private Safetensors() {
    }

    /** One tensor's header entry. */
    public record Entry(String name, String dtype, long[] shape, long begin, long end) {
    }

    /** Maps {@code file} and returns the tensor {@code name} (null: the file's only tensor). */
    public static ArrayData read(Path file, String name, Arena arena) {
        return parse(file, name, MappedFile.readOnly(file, arena));
    }

    /** Parses a safetensors file held in {@code bytes} and returns tensor {@code name} (null: the only one). */
    public static ArrayData parse(Path file, String name, MemorySegment bytes) {
        Map<String, Entry> entries = entries(file, bytes);
        Entry e;
        if (name == null) {
            if (entries.size() != 1) {
                throw new FileFormatException(file, "holds " + entries.size() + " tensors " + names(entries)
                        + "; select one with " + file + ":NAME");
            }
            e = entries.values().iterator().next();
        } else {
            e = entries.get(name);
            if (e == null) {
                throw new FileFormatException(file, "no tensor named '" + Snippet.of(name) + "'; it holds " + names(entries));
            }
        }
        return tensor(file, bytes, e);
    }

    /**
     * Tensor {@code e} (an entry of {@link #entries}{@code (file, bytes)}) as an array over
     * {@code bytes}: no copy, valid while the mapping is.
     *
     * @throws FileFormatException when its dtype is unsupported or its byte range does not match its shape
     */
    public static ArrayData tensor(Path file, MemorySegment bytes, Entry e) {
        ElementType type = ElementType.fromSafetensors(e.dtype);
        if (type == null) {
            throw new FileFormatException(file, "tensor '" + Snippet.of(e.name) + "': unsupported dtype "
                    + Snippet.of(e.dtype) + " (supported: " + ElementType.supportedSafetensors() + ")");
        }
        long need = ArrayData.byteSize(type, e.shape);
        if (need < 0) {
            throw new FileFormatException(file, "tensor '" + Snippet.of(e.name) + "': shape overflows a 64-bit byte size");
        }
        if (e.end - e.begin != need) {
            throw new FileFormatException(file, "tensor '" + Snippet.of(e.name) + "': data_offsets [" + e.begin + ", " + e.end
                    + "] hold " + (e.end - e.begin) + " bytes, shape " + java.util.Arrays.toString(e.shape)
                    + " " + e.dtype + " needs " + need);
        }
        long dataStart = 8 + bytes.get(ArrayData.I64_LE, 0);
        return new ArrayData(file, e.name, type, e.shape, bytes.asSlice(dataStart + e.begin, need));
    }

    private static String names(Map<String, Entry> entries) {
        List<String> n = new ArrayList<>(entries.keySet());
        String list = String.join(", ", n.subList(0, Math.min(10, n.size())).stream().map(Snippet::of).toList());
        return "[" + list + (n.size() > 10 ? ", ..." : "") + "]";
    }

    /** Every tensor's header entry, validated against the file's size, in header order. */
    public static Map<String, Entry> entries(Path file, MemorySegment bytes) {
        long size = bytes.byteSize();
        if (size < 8) {
            throw new FileFormatException(file, "not a safetensors file: only " + size + " bytes");
        }
        long headerLen = bytes.get(ArrayData.I64_LE, 0);
        if (headerLen < 0 || headerLen > MAX_HEADER_BYTES) {
            // not echoed: for a file that is not safetensors (text, say) the value is its first 8 bytes
            throw new FileFormatException(file, "not a safetensors file: the header length (first 8 bytes) is over the "
                    + MAX_HEADER_BYTES + "-byte limit");
        }
        if (headerLen < 2 || headerLen > size - 8) {
            throw new FileFormatException(file, "not a safetensors file: header length " + headerLen
                    + " does not fit in the file (" + size + " bytes)");
        }
        byte[] raw = bytes.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE);
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(raw)).toString();
        } catch (CharacterCodingException ex) {
            throw new FileFormatException(file, "header is not valid UTF-8");
        }
        Object json;
        try {
            json = Json.parse(text);
        } catch (Json.SyntaxException ex) {
            throw new FileFormatException(file, "header: " + ex.getMessage());
        }
        if (!(json instanceof Map<?, ?> map)) {
            throw new FileFormatException(file, "header: expected a JSON object");
        }
        long dataLen = size - 8 - headerLen;
        Map<String, Entry> out = new LinkedHashMap<>();
        for (Map.Entry<?, ?> me : map.entrySet()) {
            String name = (String) me.getKey();
            if (name.equals(METADATA)) {
                if (!(me.getValue() instanceof Map<?, ?> meta) || !meta.values().stream().allMatch(v -> v instanceof String)) {
                    throw new FileFormatException(file, "header: __metadata__ must map strings to strings");
                }
                continue;
            }
            out.put(name, entry(file, name, me.getValue(), dataLen));
        }
        return out;
    }

    private static Entry entry(Path file, String name, Object value, long dataLen) {
        String where = "tensor '" + Snippet.of(name) + "': ";
        if (!(value instanceof Map<?, ?> m)) {
            throw new FileFormatException(file, where + "expected an object");
        }
        if (!(m.get("dtype") instanceof String dtype)) {
            throw new FileFormatException(file, where + "dtype missing or not a string");
        }
        long[] shape = longs(file, where + "shape", m.get("shape"));
        long[] offsets = longs(file, where + "data_offsets", m.get("data_offsets"));
        if (offsets.length != 2) {
            throw new FileFormatException(file, where + "data_offsets must be [begin, end]");
        }
        if (shape.length > Npy.MAX_DIMS) {
            throw new FileFormatException(file, where + "shape has " + shape.length + " dimensions");
        }
        if (offsets[0] > offsets[1] || offsets[1] > dataLen) {
            throw new FileFormatException(file, where + "data_offsets [" + offsets[0] + ", " + offsets[1]
                    + "] outside the " + dataLen + " data bytes (truncated file?)");
        }
        return new Entry(name, dtype, shape, offsets[0], offsets[1]);
    }

    private static long[] longs(Path file, String what, Object value) {
        if (!(value instanceof List<?> list)) {
            throw new FileFormatException(file, what + ": expected an array of integers");
        }
        if (list.size() > Npy.MAX_DIMS) {
            throw new FileFormatException(file, what + ": " + list.size() + " entries is too many");
        }
        long[] out = new long[list.size()];
        for (int i = 0; i < out.length; i++) {
            Object o = list.get(i);
            if (o instanceof BigInteger) {
                throw new FileFormatException(file, what + ": " + Snippet.of(o) + " is absurdly large");
            }
            if (!(o instanceof Long l) || l < 0) {
                throw new FileFormatException(file, what + ": expected non-negative integers, got " + Snippet.of(o));
            }
            out[i] = l;
        }
        return out;
    }

    /** Writes the named arrays to {@code target} atomically, in the given order. */
    public static void write(Path target, Map<String, ArrayData> tensors) {
        write(target, tensors, Map.of());
    }

    /**
     * Writes the named arrays to {@code target} atomically, in the given order, with a
     * {@code __metadata__} string map (omitted when empty).
     */
    public static void write(Path target, Map<String, ArrayData> tensors, Map<String, String> metadata) {
        Map<String, ArraySpec> specs = new LinkedHashMap<>();
        tensors.forEach((name, a) -> specs.put(name, new ArraySpec(a.type(), a.shape())));
        try (AtomicFile out = AtomicFile.create(target)) {
            out.write(ByteBuffer.wrap(header(specs, metadata)));
            for (ArrayData a : tensors.values()) {
                out.write(a.data());
            }
            out.commit();
        }
    }

    /**
     * The header for {@code arrays} laid out back to back in the given order: length prefix, then
     * the JSON ({@code __metadata__} first when not empty) padded with spaces to a multiple of 8.
     */
    static byte[] header(Map<String, ArraySpec> arrays, Map<String, String> metadata) {
        StringBuilder json = new StringBuilder("{");
        if (!metadata.isEmpty()) {
            StringJoiner meta = new StringJoiner(",", Json.quote(METADATA) + ":{", "}");
            metadata.forEach((k, v) -> meta.add(Json.quote(k) + ":" + Json.quote(v)));
            json.append(meta);
        }
        long offset = 0;
        for (Map.Entry<String, ArraySpec> e : arrays.entrySet()) {
            ArraySpec a = e.getValue();
            if (json.length() > 1) {
                json.append(',');
            }
            json.append(Json.quote(e.getKey())).append(":{\"dtype\":\"").append(a.type().safetensorsName())
                    .append("\",\"shape\":[");
            long[] shape = a.shape();
            for (int i = 0; i < shape.length; i++) {
                json.append(i == 0 ? "" : ",").append(shape[i]);
            }
            json.append("],\"data_offsets\":[").append(offset).append(',').append(offset + a.byteSize()).append("]}");
            offset += a.byteSize();
        }
        json.append('}');
        byte[] text = json.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (text.length + 7) / 8 * 8;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(text);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        return head.array();
    }
}
