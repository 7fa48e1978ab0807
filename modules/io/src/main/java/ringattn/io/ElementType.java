package ringattn.io;

import java.util.Locale;
import ringattn.engine.tensor.DType;

/**
 * Element types the file formats carry. Floats are IEEE binary32 / binary16 and bfloat16; signed
 * integers are two's complement, {@code U*} unsigned. All little-endian.
 */
public enum ElementType {
    /** binary32, 4 bytes; npy {@code <f4}, safetensors {@code F32}. */
    F32(4, "<f4", "F32"),
    /** binary16, 2 bytes; npy {@code <f2}, safetensors {@code F16}. Widened to F32 for compute. */
    F16(2, "<f2", "F16"),
    /** bfloat16, 2 bytes; safetensors {@code BF16} (NumPy has no bfloat16). Kept as BF16 storage. */
    BF16(2, null, "BF16"),
    /** int32, 4 bytes; npy {@code <i4}, safetensors {@code I32}. */
    I32(4, "<i4", "I32"),
    /** int64, 8 bytes; npy {@code <i8}, safetensors {@code I64}. */
    I64(8, "<i8", "I64"),
    /** int8, 1 byte; npy {@code |i1}, safetensors {@code I8}. */
    I8(1, "|i1", "I8"),
    /** uint8, 1 byte; npy {@code |u1}, safetensors {@code U8}. */
    U8(1, "|u1", "U8"),
    /** int16, 2 bytes; npy {@code <i2}, safetensors {@code I16}. */
    I16(2, "<i2", "I16"),
    /** uint16, 2 bytes; npy {@code <u2}, safetensors {@code U16}. */
    U16(2, "<u2", "U16"),
    /** uint32, 4 bytes; npy {@code <u4}, safetensors {@code U32}. */
    U32(4, "<u4", "U32");

    private final int byteSize;
    private final String npyDescr;
    private final String safetensorsName;

    ElementType(int byteSize, String npyDescr, String safetensorsName) {
        this.byteSize = byteSize;
        this.npyDescr = npyDescr;
        this.safetensorsName = safetensorsName;
    }

    /** Bytes per element. */
    public int byteSize() {
        return byteSize;
    }

    /** The npy {@code descr} string, or null when NumPy cannot store this type. */
    public String npyDescr() {
        return npyDescr;
    }

    /** The safetensors dtype name. */
    public String safetensorsName() {
        return safetensorsName;
    }

    /** True for F32, F16 and BF16. */
    public boolean isFloat() {
        return this == F32 || this == F16 || this == BF16;
    }

    /** The storage type of an engine dtype: F32 or BF16. */
    public static ElementType of(DType dtype) {
        return switch (dtype) {
            case F32 -> F32;
            case BF16 -> BF16;
        };
    }

    /** True for the integer types (signed and unsigned). */
    public boolean isInteger() {
        return !isFloat();
    }

    /**
     * The type for an npy descr ({@code <f4}, {@code |u1}, ...; {@code <} and {@code |} are
     * interchangeable, NumPy writes {@code |} for one-byte types), or null.
     */
    static ElementType fromNpyDescr(String descr) {
        if (descr.length() < 2 || (descr.charAt(0) != '<' && descr.charAt(0) != '|')) {
            return null;
        }
        for (ElementType t : values()) {
            if (t.npyDescr != null && t.npyDescr.substring(1).equals(descr.substring(1))) {
                return t;
            }
        }
        return null;
    }

    /** The npy descrs that can be read, for messages: {@code <f4 (f32), ...}. */
    static String supportedNpy() {
        StringBuilder b = new StringBuilder();
        for (ElementType t : values()) {
            if (t.npyDescr != null) {
                b.append(b.isEmpty() ? "" : ", ").append(t.npyDescr).append(" (").append(t).append(')');
            }
        }
        return b.toString();
    }

    /** The safetensors dtypes that can be read, for messages: {@code F32, F16, ...}. */
    static String supportedSafetensors() {
        StringBuilder b = new StringBuilder();
        for (ElementType t : values()) {
            b.append(b.isEmpty() ? "" : ", ").append(t.safetensorsName);
        }
        return b.toString();
    }

    /** The type for a safetensors dtype name, or null. */
    static ElementType fromSafetensors(String name) {
        for (ElementType t : values()) {
            if (name.equals(t.safetensorsName)) {
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
