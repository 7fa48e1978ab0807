package ringattn.io;

/**
 * The tensor element types a GGUF file may hold (ggml's {@code ggml_type}), with their block layout:
 * {@code blockSize} elements are stored in {@code blockBytes} bytes, so a row of {@code n} elements
 * ({@code n} a multiple of the block size) takes {@code n / blockSize * blockBytes} bytes. Every type
 * is known by size, so a file's tensor table can be checked whatever it holds; only
 * {@link #isDequantizable() F32, F16, BF16 and Q8_0} can be read as numbers.
 */
public enum GgmlType {
    /** binary32. */
    F32(0, 1, 4),
    /** binary16. */
    F16(1, 1, 2),
    Q4_0(2, 32, 18),
    Q4_1(3, 32, 20),
    Q5_0(6, 32, 22),
    Q5_1(7, 32, 24),
    /** Blocks of 32: a binary16 scale {@code d}, then 32 int8 {@code q}; element {@code i} is {@code d * q[i]}. */
    Q8_0(8, 32, 34),
    Q8_1(9, 32, 36),
    Q2_K(10, 256, 84),
    Q3_K(11, 256, 110),
    Q4_K(12, 256, 144),
    Q5_K(13, 256, 176),
    Q6_K(14, 256, 210),
    Q8_K(15, 256, 292),
    IQ2_XXS(16, 256, 66),
    IQ2_XS(17, 256, 74),
    IQ3_XXS(18, 256, 98),
    IQ1_S(19, 256, 50),
    IQ4_NL(20, 32, 18),
    IQ3_S(21, 256, 110),
    IQ2_S(22, 256, 82),
    IQ4_XS(23, 256, 136),
    I8(24, 1, 1),
    I16(25, 1, 2),
    I32(26, 1, 4),
    I64(27, 1, 8),
    F64(28, 1, 8),
    IQ1_M(29, 256, 56),
    /** bfloat16. */
    BF16(30, 1, 2),
    TQ1_0(34, 256, 54),
    TQ2_0(35, 256, 66),
    MXFP4(39, 32, 17);

    private final int id;
    private final int blockSize;
    private final int blockBytes;

    GgmlType(int id, int blockSize, int blockBytes) {
        this.id = id;
        this.blockSize = blockSize;
        this.blockBytes = blockBytes;
    }

    /** The number a GGUF tensor table stores. */
    public int id() {
        return id;
    }

    /** Elements per block (1 for the plain types). */
    public int blockSize() {
        return blockSize;
    }

    /** Bytes per block. */
    public int blockBytes() {
        return blockBytes;
    }

    /** Whether {@link Gguf#dequantizeRows} reads this type: F32, F16, BF16 and Q8_0. */
    public boolean isDequantizable() {
        return this == F32 || this == F16 || this == BF16 || this == Q8_0;
    }

    /** The type stored as {@code id}, or null when ggml defines none (or one this reader does not know). */
    public static GgmlType of(long id) {
        for (GgmlType t : values()) {
            if (t.id == id) {
                return t;
            }
        }
        return null;
    }

    /** The dequantizable types, for messages. */
    static String dequantizable() {
        return "F32, F16, BF16, Q8_0";
    }
}
