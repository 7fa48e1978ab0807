package ringattn.model;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import ringattn.engine.kernel.Positions;
import ringattn.engine.tensor.Tensor;

/**
 * One rank's shard of a model's K/V cache: for every layer the keys (after RoPE) and values of the
 * tokens this rank holds, fp32, transposed to {@code [kvHeads, headDim, capacity]} so that the decode
 * attention ({@link ringattn.model.linalg.DecodeAttention}) runs its vectors along the keys, and their
 * global positions (strictly increasing, the same for every layer). A prefill fills the first rows where the ring left
 * them (nothing is gathered); each decode step appends at most one token, on the rank that the
 * decoder's balancing policy names.
 *
 * <p>Owns its off-heap memory ({@code 2 · layers · capacity · kvHeads · headDim · 4} bytes, allocated
 * once), freed by {@link #close}. Not thread-safe: one rank's thread uses it.
 */
public final class KvCache implements AutoCloseable {
    private final Arena arena = Arena.ofShared();
    private final int layers;
    private final int kvHeads;
    private final int headDim;
    private final int capacity;
    private final MemorySegment[] keys;
    private final MemorySegment[] values;
    private final int[] positions;
    private int size;
    private Positions view = Positions.of();

    /**
     * An empty cache for {@code layers} layers of {@code kvHeads × headDim} that can hold
     * {@code capacity} tokens.
     */
    public KvCache(int layers, int kvHeads, int headDim, int capacity) {
        if (layers < 1 || kvHeads < 1 || headDim < 1) {
            throw new IllegalArgumentException("cache: layers, kvHeads and headDim must be >= 1, got " + layers + ", "
                    + kvHeads + ", " + headDim);
        }
        if (capacity < 0) {
            throw new IllegalArgumentException("capacity: must be >= 0, got " + capacity);
        }
        this.layers = layers;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.capacity = capacity;
        long bytes = Math.max(4, 4L * capacity * kvHeads * headDim);
        this.keys = new MemorySegment[layers];
        this.values = new MemorySegment[layers];
        for (int l = 0; l < layers; l++) {
            keys[l] = arena.allocate(bytes, Tensor.ALIGNMENT_BYTES);
            values[l] = arena.allocate(bytes, Tensor.ALIGNMENT_BYTES);
        }
        this.positions = new int[capacity];
    }

    /** Tokens held. */
    public int size() {
        return size;
    }

    /** Tokens this cache can hold. */
    public int capacity() {
        return capacity;
    }

    /** Global positions of the tokens held, in row order. */
    public Positions positions() {
        if (view == null) {
            view = Positions.of(java.util.Arrays.copyOf(positions, size));
        }
        return view;
    }


    /**
     * Sets the tokens of a prefill: {@code prefillPositions.size()} rows at these global positions,
     * their K/V written layer by layer with {@link #putRows}. Only on an empty cache.
     */
    public void startPrefill(Positions prefillPositions) {
        if (size != 0) {
            throw new IllegalStateException("cache: startPrefill on a cache that holds " + size + " tokens");
        }
        int n = prefillPositions.size();
        if (n > capacity) {
            throw new IllegalArgumentException("prefillPositions: " + n + " tokens exceed the capacity " + capacity);
        }
        for (int i = 0; i < n; i++) {
            positions[i] = prefillPositions.get(i);
        }
        size = n;
        view = prefillPositions;
    }

    /**
     * Copies {@code rows} rows of fp32 {@code [rows, kvHeads, headDim]} keys and values (native order)
     * into layer {@code layer} at rows {@code [firstRow, firstRow + rows)}, which must be held.
     */
    public void putRows(int layer, int firstRow, int rows, MemorySegment k, MemorySegment v) {
        if (layer < 0 || layer >= layers) {
            throw new IllegalArgumentException("layer: " + layer + " outside [0, " + layers + ")");
        }
        if (firstRow < 0 || rows < 0 || firstRow + rows > size) {
            throw new IllegalArgumentException("rows: [" + firstRow + ", " + (firstRow + rows) + ") outside the "
                    + size + " tokens held");
        }
        MemorySegment kt = keys[layer];
        MemorySegment vt = values[layer];
        for (int g = 0; g < kvHeads; g++) {
            for (int d = 0; d < headDim; d++) {
                long dst = ((long) g * headDim + d) * capacity + firstRow;
                long src = (long) g * headDim + d;
                long stride = (long) kvHeads * headDim;
                for (int r = 0; r < rows; r++) {
                    kt.setAtIndex(ValueLayout.JAVA_FLOAT, dst + r, k.getAtIndex(ValueLayout.JAVA_FLOAT, src + r * stride));
                    vt.setAtIndex(ValueLayout.JAVA_FLOAT, dst + r, v.getAtIndex(ValueLayout.JAVA_FLOAT, src + r * stride));
                }
            }
        }
    }

    /**
     * Holds one more token, at global position {@code position} (greater than every position held);
     * its rows are then written layer by layer with {@link #putRows} at row {@code size() − 1}.
     */
    public void append(int position) {
        if (size == capacity) {
            throw new IllegalStateException("cache: full (" + capacity + " tokens)");
        }
        if (size > 0 && position <= positions[size - 1]) {
            throw new IllegalArgumentException("position: " + position + " is not after the last one held, "
                    + positions[size - 1]);
        }
        positions[size++] = position;
        view = null; // built when asked for: a decode step must not copy every position held
    }

    /** The keys of layer {@code layer}: fp32 {@code [kvHeads, headDim, capacity]}, rows {@code [0, size())} held. */
    public MemorySegment keys(int layer) {
        return keys[layer];
    }

    /** The values of layer {@code layer}, laid out as {@link #keys}. */
    public MemorySegment values(int layer) {
        return values[layer];
    }

    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }
}
