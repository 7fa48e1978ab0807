package ringattn.io;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * NumPy {@code .npy} files: magic {@code \x93NUMPY}, version 1.0 (2-byte header length), 2.0 or 3.0
 * (4-byte header length; 3.0 has a UTF-8 header), then a Python dict literal with {@code descr},
 * {@code fortran_order} and {@code shape}, then the data. Supported: the little-endian
 * {@link ElementType}s NumPy has ({@code <f4}, {@code <f2}, signed and unsigned integers) in C order. Writing produces version 1.0 (2.0 for huge
 * headers) with the header padded so the data starts on a 64-byte boundary. Stateless, thread-safe.
 */
public final class Npy {
    /** The six magic bytes. */
    static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    /** Largest header accepted, bytes (NumPy itself refuses more than 10 000 for untrusted files). */
    static final long MAX_HEADER_BYTES = 1 << 20;
    /** Most dimensions accepted (NumPy's limit). */
    static final int MAX_DIMS = 64;

    private Npy() {
    }

    /** Maps {@code file} into {@code arena} and parses it. */
    public static ArrayData read(Path file, Arena arena) {
        return parse(file, MappedFile.readOnly(file, arena));
    }

    /**
     * Parses an npy file held in {@code bytes} ({@code file} names it in messages); the result's data
     * is a slice of {@code bytes}.
     *
     * @throws FileFormatException for anything malformed or unsupported
     */
    public static ArrayData parse(Path file, MemorySegment bytes) {
        long size = bytes.byteSize();
        if (size < 10) {
            throw new FileFormatException(file, "not an .npy file: only " + size + " bytes");
        }
        for (int i = 0; i < MAGIC.length; i++) {
            if (bytes.get(ValueLayout.JAVA_BYTE, i) != MAGIC[i]) {
                throw new FileFormatException(file, "not an .npy file: wrong magic (expected \\x93NUMPY)");
            }
        }
        int major = bytes.get(ValueLayout.JAVA_BYTE, 6) & 0xFF;
        int minor = bytes.get(ValueLayout.JAVA_BYTE, 7) & 0xFF;
        long headerLen;
        long headerStart;
        if (major == 1) {
            headerLen = bytes.get(ArrayData.I16_LE, 8) & 0xFFFFL;
            headerStart = 10;
        } else if (major == 2 || major == 3) {
            if (size < 12) {
                throw new FileFormatException(file, "truncated .npy header");
            }
            headerLen = bytes.get(ArrayData.I32_LE, 8) & 0xFFFFFFFFL;
            headerStart = 12;
        } else {
            throw new FileFormatException(file, "unsupported .npy version " + major + "." + minor
                    + " (supported: 1.0, 2.0, 3.0)");
        }
        if (minor != 0) {
            throw new FileFormatException(file, "unsupported .npy version " + major + "." + minor);
        }
        if (headerLen > size - headerStart) {
            throw new FileFormatException(file, "header length " + headerLen + " runs past the end of the file ("
                    + size + " bytes)");
        }
        if (headerLen > MAX_HEADER_BYTES) {
            throw new FileFormatException(file, "header length " + headerLen + " is larger than " + MAX_HEADER_BYTES);
        }
        byte[] raw = bytes.asSlice(headerStart, headerLen).toArray(ValueLayout.JAVA_BYTE);
        String header = new String(raw, major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
        Header h = Header.parse(file, header);
        long dataStart = headerStart + headerLen;
        long dataBytes = ArrayData.byteSize(h.type, h.shape);
        if (dataBytes < 0) {
            throw new FileFormatException(file, "shape " + java.util.Arrays.toString(h.shape) + " overflows a 64-bit byte size");
        }
        long available = size - dataStart;
        if (available != dataBytes) {
            throw new FileFormatException(file, (available < dataBytes ? "truncated: " : "trailing bytes: ")
                    + "shape " + java.util.Arrays.toString(h.shape) + " " + h.type + " needs " + dataBytes
                    + " bytes of data, the file has " + available);
        }
        return new ArrayData(file, null, h.type, h.shape, bytes.asSlice(dataStart, dataBytes));
    }

    /** The complete header (magic through padding) for an array; data follows it directly. */
    public static byte[] header(ElementType type, long[] shape) {
        if (type.npyDescr() == null) {
            throw new IllegalArgumentException("type: " + type + " cannot be stored in .npy; use .safetensors");
        }
        StringBuilder dims = new StringBuilder("(");
        for (int i = 0; i < shape.length; i++) {
            dims.append(shape[i]).append(shape.length == 1 ? "," : (i + 1 < shape.length ? ", " : ""));
        }
        dims.append(')');
        String dict = "{'descr': '" + type.npyDescr() + "', 'fortran_order': False, 'shape': " + dims + ", }";
        int prefix = 10;
        int total = prefix + dict.length() + 1;
        if (total + 63 > 0xFFFF) {
            prefix = 12;
            total = prefix + dict.length() + 1;
        }
        int padded = (total + 63) / 64 * 64;
        int headerLen = padded - prefix;
        ByteBuffer b = ByteBuffer.allocate(padded).order(ByteOrder.LITTLE_ENDIAN);
        b.put(MAGIC).put((byte) (prefix == 10 ? 1 : 2)).put((byte) 0);
        if (prefix == 10) {
            b.putShort((short) headerLen);
        } else {
            b.putInt(headerLen);
        }
        b.put(dict.getBytes(StandardCharsets.ISO_8859_1));
        while (b.position() < padded - 1) {
            b.put((byte) ' ');
        }
        b.put((byte) '\n');
        return b.array();
    }

    /** Writes {@code array} to {@code target} atomically. */
    public static void write(Path target, ArrayData array) {
        try (AtomicFile out = AtomicFile.create(target)) {
            out.write(ByteBuffer.wrap(header(array.type(), array.shape())));
            out.write(array.data());
            out.commit();
        }
    }

    /** The parsed header dict. */
    private record Header(ElementType type, long[] shape) {
        static Header parse(Path file, String text) {
            Map<String, Object> dict = new DictParser(file, text).dict();
            if (dict.size() != 3 || !dict.containsKey("descr") || !dict.containsKey("fortran_order")
                    || !dict.containsKey("shape")) {
                throw new FileFormatException(file, "header must have exactly the keys descr, fortran_order, shape; got "
                        + Snippet.of(dict.keySet()));
            }
            if (!(dict.get("descr") instanceof String descr)) {
                throw new FileFormatException(file, "header: descr is not a string");
            }
            if (!(dict.get("fortran_order") instanceof Boolean fortran)) {
                throw new FileFormatException(file, "header: fortran_order is not True or False");
            }
            if (!(dict.get("shape") instanceof long[] shape)) {
                throw new FileFormatException(file, "header: shape is not a tuple of integers");
            }
            if (fortran) {
                throw new FileFormatException(file, "Fortran-order arrays are not supported (save with C order)");
            }
            ElementType type = ElementType.fromNpyDescr(descr);
            if (type == null) {
                String why = descr.startsWith(">") ? " (big-endian is not supported)" : "";
                throw new FileFormatException(file, "unsupported dtype '" + Snippet.of(descr) + "'" + why
                        + "; supported: " + ElementType.supportedNpy());
            }
            if (shape.length > MAX_DIMS) {
                throw new FileFormatException(file, "shape has " + shape.length + " dimensions, more than " + MAX_DIMS);
            }
            return new Header(type, shape);
        }
    }

    /** Parses the subset of Python literals an npy header uses: a dict of str to str/bool/tuple of ints. */
    private static final class DictParser {
        private final Path file;
        private final String s;
        private int pos;

        DictParser(Path file, String s) {
            this.file = file;
            this.s = s;
        }

        private FileFormatException error(String what) {
            return new FileFormatException(file, "malformed header at character " + pos + ": " + what);
        }

        private void space() {
            while (pos < s.length() && Character.isWhitespace(s.charAt(pos))) {
                pos++;
            }
        }

        private char next() {
            space();
            if (pos >= s.length()) {
                throw error("unexpected end");
            }
            return s.charAt(pos);
        }

        Map<String, Object> dict() {
            if (next() != '{') {
                throw error("expected '{'");
            }
            pos++;
            Map<String, Object> map = new HashMap<>();
            while (true) {
                if (next() == '}') {
                    pos++;
                    break;
                }
                String key = string();
                if (next() != ':') {
                    throw error("expected ':'");
                }
                pos++;
                Object value = value();
                if (map.put(key, value) != null) {
                    throw error("duplicate key '" + Snippet.of(key) + "'");
                }
                char c = next();
                if (c == ',') {
                    pos++;
                } else if (c != '}') {
                    throw error("expected ',' or '}'");
                }
            }
            space();
            if (pos != s.length()) {
                throw error("unexpected text after the dict");
            }
            return map;
        }

        private Object value() {
            char c = next();
            if (c == '\'' || c == '"') {
                return string();
            }
            if (c == '(' || c == '[') {
                return tuple(c == '(' ? ')' : ']');
            }
            if (s.startsWith("True", pos)) {
                pos += 4;
                return Boolean.TRUE;
            }
            if (s.startsWith("False", pos)) {
                pos += 5;
                return Boolean.FALSE;
            }
            throw error("unexpected value");
        }

        private String string() {
            char quote = next();
            if (quote != '\'' && quote != '"') {
                throw error("expected a quoted string");
            }
            int end = s.indexOf(quote, pos + 1);
            if (end < 0) {
                throw error("unterminated string");
            }
            String v = s.substring(pos + 1, end);
            pos = end + 1;
            return v;
        }

        private long[] tuple(char close) {
            pos++;
            List<Long> dims = new ArrayList<>();
            while (true) {
                char c = next();
                if (c == close) {
                    pos++;
                    break;
                }
                dims.add(integer());
                if (dims.size() > MAX_DIMS) {
                    throw error("more than " + MAX_DIMS + " dimensions");
                }
                c = next();
                if (c == ',') {
                    pos++;
                } else if (c != close) {
                    throw error("expected ',' or '" + close + "'");
                }
            }
            long[] out = new long[dims.size()];
            for (int i = 0; i < out.length; i++) {
                out[i] = dims.get(i);
            }
            return out;
        }

        private long integer() {
            space();
            int start = pos;
            if (pos < s.length() && s.charAt(pos) == '-') {
                throw error("negative dimension");
            }
            while (pos < s.length() && s.charAt(pos) >= '0' && s.charAt(pos) <= '9') {
                pos++;
            }
            if (pos == start) {
                throw error("expected a dimension");
            }
            String digits = s.substring(start, pos);
            if (pos < s.length() && s.charAt(pos) == 'L') {
                pos++; // Python 2 long suffix
            }
            if (digits.length() > 18) {
                throw error("dimension " + Snippet.of(digits) + " is absurdly large");
            }
            return Long.parseLong(digits);
        }
    }
}
