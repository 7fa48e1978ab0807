package ringattn.engine.kernel;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/**
 * The online-softmax state of a block of query rows, carried across K/V blocks: per (head, row) a
 * reference {@code m} for the scaled scores and the running sum {@code l} of
 * {@code exp(score − m)}, and per (row, head) the unnormalised output accumulator
 * {@code Σ exp(score − m)·v}, all fp32. {@code m} is the running maximum, or (the Vector API
 * kernel) a reference near it: that kernel keeps m at a multiple of {@code ln 2 / L} (L = its
 * lanes: 16 at 512 bits), within {@code ln 2 / 2L} of the maximum, and its lazy softmax keeps m while
 * the maximum moves less than 16 above it; either way {@code l} and the accumulator are relative
 * to m, and LSE = m + ln l. Blocks may be fed in any order; {@link #finish} divides once at the end.
 *
 * <p>Layouts (fp32, native order): {@code acc} is {@code [rows, heads, headDim]} like O;
 * {@code rowMax} and {@code rowSum} are {@code [heads, rows]} like LSE. Owns its memory; not
 * thread-safe (kernels write disjoint (head, row) ranges from several threads under their own
 * synchronisation).
 */
public final class ForwardState implements AutoCloseable {
    private final Arena arena = Arena.ofShared();
    private final Tensor q;
    private final Positions qPositions;
    private final MemorySegment acc;
    private final MemorySegment rowMax;
    private final MemorySegment rowSum;
    private final int[] qDocuments;
    private AttentionSpec documentsFor;

    /**
     * A fresh state for queries {@code q} at global positions {@code qPositions}. The state keeps
     * references to both; {@code q} must stay open until {@link #finish}.
     */
    public ForwardState(Tensor q, Positions qPositions) {
        if (q == null) {
            throw new IllegalArgumentException("q: must not be null");
        }
        q.checkOpen("q");
        if (qPositions == null || qPositions.size() != q.tokens()) {
            throw new IllegalArgumentException("qPositions: " + (qPositions == null ? "null" : qPositions.size())
                    + " positions for " + q.tokens() + " query tokens");
        }
        this.q = q;
        this.qPositions = qPositions;
        long rows = q.tokens();
        this.acc = arena.allocate(Math.max(4, rows * q.heads() * q.headDim() * 4), Tensor.ALIGNMENT_BYTES);
        this.rowMax = arena.allocate(Math.max(4, rows * q.heads() * 4), Tensor.ALIGNMENT_BYTES);
        this.rowSum = arena.allocate(Math.max(4, rows * q.heads() * 4), Tensor.ALIGNMENT_BYTES);
        this.qDocuments = new int[q.tokens()];
        reset();
    }

    /** Forgets every block seen: m = −∞, l = 0, acc = 0. */
    public void reset() {
        acc.fill((byte) 0);
        rowSum.fill((byte) 0);
        long n = (long) q.tokens() * q.heads();
        for (long i = 0; i < n; i++) {
            rowMax.setAtIndex(ValueLayout.JAVA_FLOAT, i, Float.NEGATIVE_INFINITY);
        }
    }

    public Tensor q() {
        return q;
    }

    public Positions qPositions() {
        return qPositions;
    }

    /** {@code [rows, heads, headDim]} fp32 unnormalised output. */
    public MemorySegment acc() {
        return acc;
    }

    /**
     * {@code [heads, rows]} fp32 references of the scaled scores: the running maxima, or near them
     * (up to 16 below; see the class comment), −∞ before any visible key.
     */
    public MemorySegment rowMax() {
        return rowMax;
    }

    /** {@code [heads, rows]} fp32 running sums of exp(score − rowMax). */
    public MemorySegment rowSum() {
        return rowSum;
    }

    /** Document index of each query row under {@code spec} (cached per spec). */
    public synchronized int[] queryDocuments(AttentionSpec spec) {
        if (documentsFor == null || !documentsFor.equals(spec)) {
            int[] d = spec.documentsOf(qPositions);
            System.arraycopy(d, 0, qDocuments, 0, d.length);
            documentsFor = spec;
        }
        return qDocuments;
    }

    /**
     * Writes O = acc / l in {@code out}'s dtype and LSE = m + ln l (fp32, {@code [heads, rows]}) into
     * {@code lse} (may be null). Rows that saw no key get O = 0 and LSE = −∞.
     */
    public void finish(Tensor out, MemorySegment lse) {
        BlockArguments.checkLikeQueries("out", out, q);
        BlockArguments.checkLse(lse, q);
        int rows = q.tokens();
        int heads = q.heads();
        int d = q.headDim();
        for (int h = 0; h < heads; h++) {
            for (int r = 0; r < rows; r++) {
                long sIdx = (long) h * rows + r;
                float m = rowMax.getAtIndex(ValueLayout.JAVA_FLOAT, sIdx);
                float l = rowSum.getAtIndex(ValueLayout.JAVA_FLOAT, sIdx);
                boolean empty = l == 0f; // NaN (from a NaN or infinite score) propagates
                float inv = empty ? 0f : 1f / l;
                long base = ((long) r * heads + h) * d;
                for (int c = 0; c < d; c++) {
                    float a = empty ? 0f : acc.getAtIndex(ValueLayout.JAVA_FLOAT, base + c) * inv;
                    out.setFlat(base + c, a);
                }
                if (lse != null) {
                    float value = empty ? Float.NEGATIVE_INFINITY : (float) (m + Math.log(l));
                    lse.setAtIndex(ValueLayout.JAVA_FLOAT, sIdx, value);
                }
            }
        }
    }

    /** Convenience: finish into a new tensor of {@code dtype}. */
    public Tensor finish(DType dtype, MemorySegment lse) {
        Tensor out = Tensor.allocate(q.tokens(), q.heads(), q.headDim(), dtype);
        finish(out, lse);
        return out;
    }

    /** Whether {@link #close} has not been called yet. */
    public boolean isOpen() {
        return arena.scope().isAlive();
    }

    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }
}
