package ringattn.io;

import java.util.Locale;

/**
 * Element types the file formats carry. Floats are IEEE binary32 / binary16 and bfloat16; integers
 * are two's complement. All little-endian.
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
    I64(8, "<i8", "I64");

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

    /** The type for an npy descr ({@code <f4}, {@code <f2}, {@code <i4}, {@code <i8}), or null. */
    static ElementType fromNpyDescr(String descr) {
        for (ElementType t : values()) {
            if (descr.equals(t.npyDescr)) {
                return t;
            }
        }
        return null;
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
