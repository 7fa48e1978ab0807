package ringattn.io;

import java.util.Arrays;

/**
 * One entry of a GGUF tensor table, checked against the file when it was read.
 *
 * @param name     the tensor's name (UTF-8, unique in its file)
 * @param type     its element type
 * @param dims     ggml's {@code ne}: the fastest-varying dimension first, so the reverse of a
 *                 row-major shape (a linear weight {@code [out, in]} is stored as {@code {in, out}});
 *                 a copy is kept
 * @param offset   bytes from the start of the file's data section to the tensor's data (a multiple
 *                 of the file's alignment)
 * @param byteSize bytes of data
 */
public record GgufTensor(String name, GgmlType type, long[] dims, long offset, long byteSize) {
    public GgufTensor {
        dims = dims.clone();
    }

    @Override
    public long[] dims() {
        return dims.clone();
    }

    /** The row-major shape, outermost first: {@code dims} reversed. */
    public long[] shape() {
        long[] s = new long[dims.length];
        for (int i = 0; i < dims.length; i++) {
            s[i] = dims[dims.length - 1 - i];
        }
        return s;
    }

    /** Elements per row: {@code dims[0]}. */
    public long rowLength() {
        return dims[0];
    }

    /** Rows: the product of the other dimensions. */
    public long rows() {
        long n = 1;
        for (int i = 1; i < dims.length; i++) {
            n *= dims[i];
        }
        return n;
    }

    /** Elements in all. */
    public long elementCount() {
        return rowLength() * rows();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GgufTensor t && name.equals(t.name) && type == t.type && Arrays.equals(dims, t.dims)
                && offset == t.offset && byteSize == t.byteSize;
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(dims);
    }

    @Override
    public String toString() {
        return "'" + Snippet.of(name) + "' " + type + " " + Arrays.toString(shape());
    }
}
