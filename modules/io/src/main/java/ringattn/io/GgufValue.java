package ringattn.io;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Objects;

/**
 * One GGUF metadata value: a scalar or a one-level array. Scalars are held as {@link Long} (every
 * integer type; a uint64 as its two's-complement bits), {@link Float}, {@link Double},
 * {@link Boolean} or {@link String}. A numeric or bool array is held as its little-endian elements
 * (for a read file, a view of the mapping: nothing is copied until asked for), a string array as an
 * immutable list. Immutable; read through {@link GgufMetadata}'s typed accessors.
 */
public final class GgufValue {
    static final ValueLayout.OfDouble F64_LE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final GgufValueType type;
    private final GgufValueType elementType;
    private final long length;
    private final Object value;

    private GgufValue(GgufValueType type, GgufValueType elementType, long length, Object value) {
        this.type = type;
        this.elementType = elementType;
        this.length = length;
        this.value = value;
    }

    /**
     * A scalar of {@code type}: a {@link Number} for the numeric types (integers range-checked for
     * their type; for UINT64 any long, read as unsigned bits), a {@link Boolean} for BOOL, a
     * {@link String} for STRING.
     */
    public static GgufValue scalar(GgufValueType type, Object v) {
        Objects.requireNonNull(v, "v");
        Object held = switch (type) {
            case STRING -> (String) v;
            case BOOL -> (Boolean) v;
            case FLOAT32 -> ((Number) v).floatValue();
            case FLOAT64 -> ((Number) v).doubleValue();
            case ARRAY -> throw new IllegalArgumentException("type: ARRAY is not a scalar type");
            default -> checkedInteger(type, ((Number) v).longValue());
        };
        return new GgufValue(type, null, 0, held);
    }

    /** A STRING scalar. */
    public static GgufValue string(String s) {
        return scalar(GgufValueType.STRING, s);
    }

    /** A UINT32 scalar. */
    public static GgufValue uint32(long v) {
        return scalar(GgufValueType.UINT32, v);
    }

    /** A FLOAT32 scalar. */
    public static GgufValue float32(float v) {
        return scalar(GgufValueType.FLOAT32, v);
    }

    /** An array of strings. */
    public static GgufValue strings(List<String> values) {
        return new GgufValue(GgufValueType.ARRAY, GgufValueType.STRING, values.size(), List.copyOf(values));
    }

    /** An array of FLOAT32. */
    public static GgufValue floats(float... values) {
        MemorySegment s = MemorySegment.ofArray(new byte[4 * values.length]);
        for (int i = 0; i < values.length; i++) {
            s.setAtIndex(ArrayData.F32_LE, i, values[i]);
        }
        return new GgufValue(GgufValueType.ARRAY, GgufValueType.FLOAT32, values.length, s);
    }

    /** An array of FLOAT64. */
    public static GgufValue doubles(double... values) {
        MemorySegment s = MemorySegment.ofArray(new byte[8 * values.length]);
        for (int i = 0; i < values.length; i++) {
            s.setAtIndex(F64_LE, i, values[i]);
        }
        return new GgufValue(GgufValueType.ARRAY, GgufValueType.FLOAT64, values.length, s);
    }

    /** An array of an integer type or BOOL (0 or 1), each value range-checked for {@code elementType}. */
    public static GgufValue integers(GgufValueType elementType, long... values) {
        if (!elementType.isInteger() && elementType != GgufValueType.BOOL) {
            throw new IllegalArgumentException("elementType: expected an integer type or bool, got " + elementType);
        }
        int size = elementType.byteSize();
        MemorySegment s = MemorySegment.ofArray(new byte[size * values.length]);
        for (int i = 0; i < values.length; i++) {
            long v = elementType == GgufValueType.BOOL ? checkedBool(values[i]) : checkedInteger(elementType, values[i]);
            put(s, (long) i * size, size, v);
        }
        return new GgufValue(GgufValueType.ARRAY, elementType, values.length, s);
    }

    /** An array over {@code count} little-endian elements of a fixed-size type (the parser's view). */
    static GgufValue fixedArray(GgufValueType elementType, long count, MemorySegment elements) {
        return new GgufValue(GgufValueType.ARRAY, elementType, count, elements);
    }

    /** A scalar already checked by the parser. */
    static GgufValue parsed(GgufValueType type, Object held) {
        return new GgufValue(type, null, 0, held);
    }

    public GgufValueType type() {
        return type;
    }

    /** The element type of an array, or null for a scalar. */
    public GgufValueType elementType() {
        return elementType;
    }

    /** Elements of an array (0 for a scalar). */
    public long length() {
        return length;
    }

    /** The scalar as held ({@link Long}, {@link Float}, {@link Double}, {@link Boolean}, {@link String}), or null for an array. */
    public Object scalar() {
        return type == GgufValueType.ARRAY ? null : value;
    }

    /** The strings of a string array, or null. */
    @SuppressWarnings("unchecked")
    List<String> stringList() {
        return elementType == GgufValueType.STRING ? (List<String>) value : null;
    }

    /** Element {@code i} of a numeric or bool array as a long: sign- or zero-extended, a uint64 as its bits. */
    long integerAt(long i) {
        MemorySegment s = (MemorySegment) value;
        int size = elementType.byteSize();
        long at = i * size;
        return switch (elementType) {
            case UINT8, BOOL -> Byte.toUnsignedLong(s.get(ValueLayout.JAVA_BYTE, at));
            case INT8 -> s.get(ValueLayout.JAVA_BYTE, at);
            case UINT16 -> Short.toUnsignedLong(s.get(ArrayData.I16_LE, at));
            case INT16 -> s.get(ArrayData.I16_LE, at);
            case UINT32 -> Integer.toUnsignedLong(s.get(ArrayData.I32_LE, at));
            case INT32 -> s.get(ArrayData.I32_LE, at);
            case UINT64, INT64 -> s.get(ArrayData.I64_LE, at);
            default -> throw new IllegalStateException(elementType + " is not an integer type");
        };
    }

    /** Element {@code i} of a FLOAT32 or FLOAT64 array. */
    double floatAt(long i) {
        MemorySegment s = (MemorySegment) value;
        return elementType == GgufValueType.FLOAT32 ? s.getAtIndex(ArrayData.F32_LE, i) : s.getAtIndex(F64_LE, i);
    }

    /** For messages: {@code uint32}, {@code string}, {@code array of 512 float32}. */
    public String describe() {
        return type == GgufValueType.ARRAY ? "array of " + length + " " + elementType : type.toString();
    }

    @Override
    public String toString() {
        return type == GgufValueType.ARRAY ? describe() : type + " " + Snippet.of(value);
    }

    /** Appends this value's encoding (without the type tag of a scalar) to {@code out}. */
    void encode(ByteSink out) {
        if (type != GgufValueType.ARRAY) {
            encodeScalar(out, type, value);
            return;
        }
        out.u32(elementType.id()).u64(length);
        if (elementType == GgufValueType.STRING) {
            for (String s : stringList()) {
                out.string(s);
            }
        } else {
            out.bytes(((MemorySegment) value).toArray(ValueLayout.JAVA_BYTE));
        }
    }

    private static void encodeScalar(ByteSink out, GgufValueType type, Object v) {
        switch (type) {
            case STRING -> out.string((String) v);
            case BOOL -> out.bytes(new byte[] {(byte) ((Boolean) v ? 1 : 0)});
            case FLOAT32 -> out.u32(Float.floatToRawIntBits((Float) v));
            case FLOAT64 -> out.u64(Double.doubleToRawLongBits((Double) v));
            default -> {
                byte[] b = new byte[type.byteSize()];
                put(MemorySegment.ofArray(b), 0, b.length, (Long) v);
                out.bytes(b);
            }
        }
    }

    private static void put(MemorySegment s, long at, int size, long v) {
        for (int k = 0; k < size; k++) {
            s.set(ValueLayout.JAVA_BYTE, at + k, (byte) (v >>> (8 * k)));
        }
    }

    private static long checkedBool(long v) {
        if (v != 0 && v != 1) {
            throw new IllegalArgumentException("bool: expected 0 or 1, got " + v);
        }
        return v;
    }

    private static long checkedInteger(GgufValueType type, long v) {
        boolean ok = switch (type) {
            case UINT8 -> v >= 0 && v <= 0xFF;
            case INT8 -> v >= Byte.MIN_VALUE && v <= Byte.MAX_VALUE;
            case UINT16 -> v >= 0 && v <= 0xFFFF;
            case INT16 -> v >= Short.MIN_VALUE && v <= Short.MAX_VALUE;
            case UINT32 -> v >= 0 && v <= 0xFFFF_FFFFL;
            case INT32 -> v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE;
            case UINT64, INT64 -> true;
            default -> throw new IllegalArgumentException(type + " is not an integer type");
        };
        if (!ok) {
            throw new IllegalArgumentException(type + ": " + v + " is out of range");
        }
        return v;
    }

}
