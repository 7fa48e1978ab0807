package ringattn.engine.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * An off-heap tensor of shape {@code [tokens, heads, headDim]}, row-major, little-endian.
 *
 * <p>Ownership: a tensor from {@link #allocate} owns a 64-byte aligned block in its own shared
 * arena and frees it on {@link #close()}. A tensor from {@link #wrap} or a view from
 * {@link #tokens(int, int)} owns nothing: closing it is a no-op, and it becomes unusable when the
 * owner of its memory is closed. Element accessors are plain (non-volatile) memory accesses: threads
 * may write disjoint elements concurrently; publication is the caller's business.
 *
 * <p>Units: {@code tokens}, {@code heads}, {@code headDim} count elements; methods ending in
 * {@code Bytes} count bytes.
 */
public final class Tensor implements AutoCloseable {
    /** Alignment of owned allocations, in bytes. */
    public static final long ALIGNMENT_BYTES = 64;

    static final ValueLayout.OfFloat F32_LE =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort BF16_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final int tokens;
    private final int heads;
    private final int headDim;
    private final DType dtype;
    private final MemorySegment segment;
    private final Arena owner; // null for views and wrapped memory

    private Tensor(int tokens, int heads, int headDim, DType dtype, MemorySegment segment, Arena owner) {
        this.tokens = tokens;
        this.heads = heads;
        this.headDim = headDim;
        this.dtype = dtype;
        this.segment = segment;
        this.owner = owner;
    }

    /** Allocates a zero-filled tensor that owns its memory. */
    public static Tensor allocate(int tokens, int heads, int headDim, DType dtype) {
        checkShape(tokens, heads, headDim);
        if (dtype == null) {
            throw new IllegalArgumentException("dtype: must not be null");
        }
        long bytes = byteSize(tokens, heads, headDim, dtype);
        Arena arena = Arena.ofShared();
        try {
            MemorySegment seg = arena.allocate(Math.max(bytes, 1), ALIGNMENT_BYTES).asSlice(0, bytes);
            return new Tensor(tokens, heads, headDim, dtype, seg, arena);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /**
     * Wraps existing memory (for example a memory-mapped file or a transport buffer) without taking
     * ownership. The segment must hold at least {@code tokens*heads*headDim*dtype.byteSize()} bytes.
     */
    public static Tensor wrap(MemorySegment segment, int tokens, int heads, int headDim, DType dtype) {
        checkShape(tokens, heads, headDim);
        long bytes = byteSize(tokens, heads, headDim, dtype);
        if (segment.byteSize() < bytes) {
            throw new IllegalArgumentException("segment: " + segment.byteSize() + " bytes, shape ["
                    + tokens + ", " + heads + ", " + headDim + "] " + dtype + " needs " + bytes);
        }
        return new Tensor(tokens, heads, headDim, dtype, segment.asSlice(0, bytes), null);
    }

    /** Bytes needed for a tensor of this shape and dtype; throws on overflow or negative sizes. */
    public static long byteSize(int tokens, int heads, int headDim, DType dtype) {
        checkShape(tokens, heads, headDim);
        return Math.multiplyExact(Math.multiplyExact((long) tokens, (long) heads),
                Math.multiplyExact((long) headDim, (long) dtype.byteSize()));
    }

    private static void checkShape(int tokens, int heads, int headDim) {
        if (tokens < 0) {
            throw new IllegalArgumentException("tokens: must be >= 0, got " + tokens);
        }
        if (heads < 1) {
            throw new IllegalArgumentException("heads: must be >= 1, got " + heads);
        }
        if (headDim < 1) {
            throw new IllegalArgumentException("headDim: must be >= 1, got " + headDim);
        }
    }

    /** A view of tokens {@code [start, start+count)} sharing this tensor's memory. */
    public Tensor tokens(int start, int count) {
        checkOpen("tensor");
        if (start < 0 || count < 0 || start > tokens - count) {
            throw new IndexOutOfBoundsException("token range [" + start + ", " + ((long) start + count)
                    + ") outside [0, " + tokens + ")");
        }
        long rowBytes = tokenStrideBytes();
        return new Tensor(count, heads, headDim, dtype,
                segment.asSlice(start * rowBytes, count * rowBytes), null);
    }

    public int tokens() {
        return tokens;
    }

    public int heads() {
        return heads;
    }

    public int headDim() {
        return headDim;
    }

    public DType dtype() {
        return dtype;
    }

    /** Number of elements. */
    public long elementCount() {
        return (long) tokens * heads * headDim;
    }

    /** The memory, {@code elementCount()*dtype.byteSize()} bytes. */
    public MemorySegment segment() {
        return segment;
    }

    /** Bytes from one token to the next. */
    public long tokenStrideBytes() {
        return (long) heads * headDim * dtype.byteSize();
    }

    /** Byte offset of element {@code [token, head, 0]}. */
    public long offsetBytes(int token, int head) {
        return ((long) token * heads + head) * headDim * dtype.byteSize();
    }

    /** True while the memory can be accessed. */
    public boolean isOpen() {
        return segment.scope().isAlive();
    }

    /** Throws {@link IllegalStateException} naming {@code argument} when this tensor is closed. */
    public void checkOpen(String argument) {
        if (!isOpen()) {
            throw new IllegalStateException(argument + ": tensor is closed");
        }
    }

    /** Reads element {@code [token, head, dim]} as a float. */
    public float get(int token, int head, int dim) {
        long index = ((long) token * heads + head) * headDim + dim;
        return dtype == DType.F32
                ? segment.getAtIndex(F32_LE, index)
                : DType.bf16ToFloat(segment.getAtIndex(BF16_LE, index));
    }

    /** Writes element {@code [token, head, dim]} (rounded to the storage type). */
    public void set(int token, int head, int dim, float value) {
        long index = ((long) token * heads + head) * headDim + dim;
        if (dtype == DType.F32) {
            segment.setAtIndex(F32_LE, index, value);
        } else {
            segment.setAtIndex(BF16_LE, index, DType.floatToBf16(value));
        }
    }

    /** Reads flat element {@code index} (in elements) as a float. */
    public float getFlat(long index) {
        return dtype == DType.F32
                ? segment.getAtIndex(F32_LE, index)
                : DType.bf16ToFloat(segment.getAtIndex(BF16_LE, index));
    }

    /** Writes flat element {@code index} (in elements). */
    public void setFlat(long index, float value) {
        if (dtype == DType.F32) {
            segment.setAtIndex(F32_LE, index, value);
        } else {
            segment.setAtIndex(BF16_LE, index, DType.floatToBf16(value));
        }
    }

    /** Sets every element to zero. */
    public void zero() {
        segment.fill((byte) 0);
    }

    /** Copies all elements of {@code src} (same shape, any dtype) into this tensor. */
    public void copyFrom(Tensor src) {
        if (src.tokens != tokens || src.heads != heads || src.headDim != headDim) {
            throw new IllegalArgumentException("src: shape " + src.shapeString() + " differs from " + shapeString());
        }
        if (src.dtype == dtype) {
            MemorySegment.copy(src.segment, 0, segment, 0, segment.byteSize());
            return;
        }
        long n = elementCount();
        for (long i = 0; i < n; i++) {
            setFlat(i, src.getFlat(i));
        }
    }

    /** A new owning tensor with the same shape and values, stored as {@code target}. */
    public Tensor copyAs(DType target) {
        Tensor t = allocate(tokens, heads, headDim, target);
        t.copyFrom(this);
        return t;
    }

    /** {@code [tokens, heads, headDim] DTYPE}. */
    public String shapeString() {
        return "[" + tokens + ", " + heads + ", " + headDim + "] " + dtype;
    }

    /** Frees the memory if this tensor owns it; a no-op for views and wrapped memory. Idempotent. */
    @Override
    public void close() {
        if (owner != null && owner.scope().isAlive()) {
            owner.close();
        }
    }

    @Override
    public String toString() {
        return "Tensor" + shapeString() + (isOpen() ? "" : " (closed)");
    }
}
