package ringattn.io;

import java.util.Arrays;

/**
 * The type and shape of an array to be written (no data). Immutable.
 *
 * @param type  element type
 * @param shape dimensions in elements, outermost first (a copy is kept)
 */
public record ArraySpec(ElementType type, long[] shape) {
    public ArraySpec {
        shape = shape.clone();
        if (ArrayData.byteSize(type, shape) < 0) {
            throw new IllegalArgumentException("shape: " + Arrays.toString(shape) + " is negative or overflows");
        }
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Bytes of data. */
    public long byteSize() {
        return ArrayData.byteSize(type, shape);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ArraySpec s && s.type == type && Arrays.equals(s.shape, shape);
    }

    @Override
    public int hashCode() {
        return type.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return type + Arrays.toString(shape);
    }
}
