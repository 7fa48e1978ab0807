package ringattn.engine.tensor;

/**
 * Element storage types. Arithmetic is always done in fp32 (fp64 in the reference); BF16 is a storage
 * format only, converted on load and rounded to nearest-even on store.
 */
public enum DType {
    /** IEEE-754 binary32, 4 bytes. */
    F32(4),
    /** bfloat16 (the upper half of a binary32), 2 bytes. */
    BF16(2);

    private final int byteSize;

    DType(int byteSize) {
        this.byteSize = byteSize;
    }

    /** Bytes per element. */
    public int byteSize() {
        return byteSize;
    }

    /** Widens a bfloat16 bit pattern to the float it denotes (exact). */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /** Rounds a float to the nearest bfloat16 (ties to even); NaN stays a quiet NaN. */
    public static short floatToBf16(float value) {
        int bits = Float.floatToRawIntBits(value);
        if ((bits & 0x7FFFFFFF) > 0x7F800000) {
            return (short) ((bits >>> 16) | 0x0040);
        }
        int rounding = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    /** Rounds a float to the value it has after a round trip through this storage type. */
    public float round(float value) {
        return this == F32 ? value : bf16ToFloat(floatToBf16(value));
    }

    /** Parses {@code f32}/{@code bf16} (any case); throws naming the argument otherwise. */
    public static DType parse(String name) {
        return switch (name.toLowerCase(java.util.Locale.ROOT)) {
            case "f32", "float32" -> F32;
            case "bf16", "bfloat16" -> BF16;
            default -> throw new IllegalArgumentException("dtype: expected f32 or bf16, got '" + name + "'");
        };
    }
}
