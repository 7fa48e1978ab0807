package ringattn.io;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/**
 * An n-dimensional array as a file holds it: element type, shape (C order, elements), and the
 * little-endian bytes. A read array's {@code data} is a read-only mapping of the file, valid while
 * the arena it was mapped in is open; this record owns nothing. Immutable apart from the memory.
 *
 * @param file  the file it came from or goes to (for messages)
 * @param name  the tensor's name in a safetensors file, or null for npy
 * @param type  element type
 * @param shape dimensions in elements, outermost first (a copy is kept)
 * @param data  exactly {@code product(shape) * type.byteSize()} bytes
 */
public record ArrayData(Path file, String name, ElementType type, long[] shape, MemorySegment data) {
    static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt I32_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong I64_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public ArrayData {
        shape = shape.clone();
        long bytes = byteSize(type, shape);
        if (bytes < 0 || data.byteSize() != bytes) {
            throw new IllegalArgumentException("data: " + data.byteSize() + " bytes, shape "
                    + Arrays.toString(shape) + " " + type + " needs " + bytes);
        }
    }

    /** An array to be written: no file or name yet. */
    public static ArrayData of(ElementType type, long[] shape, MemorySegment data) {
        return new ArrayData(null, null, type, shape, data);
    }

    /** An array holding an engine tensor's memory ({@code [tokens, heads, headDim]}, F32 or BF16). */
    public static ArrayData of(Tensor tensor) {
        return of(ElementType.of(tensor.dtype()), new long[] {tensor.tokens(), tensor.heads(), tensor.headDim()}, tensor.segment());
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Number of dimensions. */
    public int rank() {
        return shape.length;
    }

    /** Number of elements. */
    public long elementCount() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    /** Where this array came from: {@code file} or {@code file:name}. */
    public String source() {
        return name == null ? String.valueOf(file) : file + ":" + name;
    }

    /** The shape as {@code [a, b, c]}. */
    public String shapeString() {
        return Arrays.toString(shape);
    }

    /**
     * Bytes for {@code shape} of {@code type}, or −1 when a dimension is negative or the size
     * overflows a long.
     */
    public static long byteSize(ElementType type, long[] shape) {
        long bytes = type.byteSize();
        for (long d : shape) {
            if (d < 0) {
                return -1;
            }
            try {
                bytes = Math.multiplyExact(bytes, d);
            } catch (ArithmeticException e) {
                return -1;
            }
        }
        return bytes;
    }

    /** Element {@code index} (flat, C order), widened (or, for large integers, rounded) to float. */
    public float getFloat(long index) {
        return switch (type) {
            case F32 -> data.getAtIndex(F32_LE, index);
            case F16 -> Float.float16ToFloat(data.getAtIndex(I16_LE, index));
            case BF16 -> DType.bf16ToFloat(data.getAtIndex(I16_LE, index));
            default -> getLong(index);
        };
    }

    /**
     * Element {@code index} (flat, C order) of an integer array, widened to long (unsigned types
     * zero-extended).
     *
     * @throws IllegalStateException when this is a float array
     */
    public long getLong(long index) {
        return switch (type) {
            case I8 -> data.get(ValueLayout.JAVA_BYTE, index);
            case U8 -> Byte.toUnsignedLong(data.get(ValueLayout.JAVA_BYTE, index));
            case I16 -> data.getAtIndex(I16_LE, index);
            case U16 -> Short.toUnsignedLong(data.getAtIndex(I16_LE, index));
            case I32 -> data.getAtIndex(I32_LE, index);
            case U32 -> Integer.toUnsignedLong(data.getAtIndex(I32_LE, index));
            case I64 -> data.getAtIndex(I64_LE, index);
            case F32, F16, BF16 -> throw new IllegalStateException(source() + ": " + type + " is not an integer type");
        };
    }

    /**
     * This 3-D float array as an engine tensor {@code [tokens, heads, headDim]}: F32 and BF16 wrap the
     * mapped memory (no copy; valid while the arena is open), F16 is widened into a new F32 tensor.
     * The caller closes the result (a no-op for wrapped memory).
     *
     * @param argument the command-line argument it came from (the caller names it in its message)
     * @throws FileFormatException when the array is not a 3-D float array with int-sized dimensions
     */
    public Tensor toTensor(String argument) {
        if (!type.isFloat()) {
            throw new FileFormatException(file, "expected a float32, float16 or bfloat16 tensor, got " + type);
        }
        if (shape.length != 3) {
            throw new FileFormatException(file, "expected 3 dimensions [tokens, heads, headDim], got shape "
                    + shapeString());
        }
        if (shape[0] > Integer.MAX_VALUE || shape[1] > Integer.MAX_VALUE || shape[2] > Integer.MAX_VALUE
                || shape[1] < 1 || shape[2] < 1) {
            throw new FileFormatException(file, "unsupported shape " + shapeString()
                    + " (heads and headDim must be >= 1, every dimension < 2^31)");
        }
        int tokens = (int) shape[0];
        int heads = (int) shape[1];
        int headDim = (int) shape[2];
        return switch (type) {
            case F32 -> Tensor.wrap(data, tokens, heads, headDim, DType.F32);
            case BF16 -> Tensor.wrap(data, tokens, heads, headDim, DType.BF16);
            default -> {
                Tensor t = Tensor.allocate(tokens, heads, headDim, DType.F32);
                long n = t.elementCount();
                for (long i = 0; i < n; i++) {
                    t.setFlat(i, Float.float16ToFloat(data.getAtIndex(I16_LE, i)));
                }
                yield t;
            }
        };
    }

    /**
     * This 1-D integer array as longs.
     *
     * @throws FileFormatException when it is not a 1-D integer array
     */
    public long[] toLongs(String argument) {
        if (!type.isInteger()) {
            throw new FileFormatException(file, "expected int32, int64 or another integer type, got " + type);
        }
        if (shape.length != 1) {
            throw new FileFormatException(file, "expected 1 dimension, got shape " + shapeString());
        }
        if (shape[0] > 1 << 28) {
            throw new FileFormatException(file, "" + shape[0] + " entries is too many");
        }
        long[] out = new long[(int) shape[0]];
        for (int i = 0; i < out.length; i++) {
            out[i] = getLong(i);
        }
        return out;
    }

    @Override
    public boolean equals(Object o) {
        return this == o;
    }

    @Override
    public int hashCode() {
        return System.identityHashCode(this);
    }

    @Override
    public String toString() {
        return "ArrayData[" + source() + " " + type + " " + shapeString() + "]";
    }
}
