package ringattn.io;

import java.util.Locale;

/**
 * The types of GGUF metadata values ({@code gguf_type}), with their encoded size in bytes (−1 for
 * the variable-length string and array). All little-endian; a bool is one byte, 0 or 1; a string is
 * a uint64 byte length and UTF-8 bytes; an array is an element type, a uint64 count and the elements.
 */
public enum GgufValueType {
    UINT8(0, 1),
    INT8(1, 1),
    UINT16(2, 2),
    INT16(3, 2),
    UINT32(4, 4),
    INT32(5, 4),
    FLOAT32(6, 4),
    BOOL(7, 1),
    STRING(8, -1),
    ARRAY(9, -1),
    UINT64(10, 8),
    INT64(11, 8),
    FLOAT64(12, 8);

    private final int id;
    private final int byteSize;

    GgufValueType(int id, int byteSize) {
        this.id = id;
        this.byteSize = byteSize;
    }

    /** The number the file stores. */
    public int id() {
        return id;
    }

    /** Encoded bytes of one value, or −1 for STRING and ARRAY. */
    public int byteSize() {
        return byteSize;
    }

    /** True for the eight integer types. */
    public boolean isInteger() {
        return switch (this) {
            case UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64 -> true;
            default -> false;
        };
    }

    /** True for FLOAT32 and FLOAT64. */
    public boolean isFloat() {
        return this == FLOAT32 || this == FLOAT64;
    }

    /** The type stored as {@code id}, or null. */
    public static GgufValueType of(long id) {
        for (GgufValueType t : values()) {
            if (t.id == id) {
                return t;
            }
        }
        return null;
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
