package ringattn.model;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import ringattn.engine.tensor.DType;

/**
 * One weight tensor: its Hugging Face name, where it came from (a file path or {@code "memory"}),
 * its storage type, shape (row-major; a linear layer's weight is {@code [out, in]}) and bytes.
 * Borrowed from its {@link WeightSource}: valid until the source is closed.
 */
public record Weight(String name, String origin, DType dtype, long[] shape, MemorySegment data) {
    /** {@code [d0, d1, ...]}. */
    public String shapeString() {
        return Arrays.toString(shape);
    }

    /** Rows of a 2-D weight (its first dimension). */
    public int rows() {
        return (int) shape[0];
    }

    /** Columns of a 2-D weight (its last dimension). */
    public int cols() {
        return (int) shape[shape.length - 1];
    }

    /** Element {@code index} (flat) widened to float. */
    public float get(long index) {
        return dtype == DType.F32
                ? data.getAtIndex(ringattn.model.linalg.Layouts.F32_LE, index)
                : DType.bf16ToFloat(data.getAtIndex(ringattn.model.linalg.Layouts.BF16_LE, index));
    }
}
