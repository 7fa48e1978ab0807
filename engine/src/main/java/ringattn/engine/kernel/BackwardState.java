package ringattn.engine.kernel;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import ringattn.engine.tensor.Tensor;

/**
 * What the backward pass keeps for a block of query rows while K/V blocks go by: Q, dO, LSE, the
 * row terms D = rowsum(dO∘O) (computed once here), and the fp32 dQ accumulator.
 *
 * <p>Layouts (fp32, native order): {@code lse} and {@code delta} are {@code [heads, rows]};
 * {@code dQ} is {@code [rows, heads, headDim]}. Owns delta, dQ and any partial buffers a kernel
 * asks for; borrows q, dO and lse. Not thread-safe.
 */
public final class BackwardState implements AutoCloseable {
    private final Arena arena = Arena.ofShared();
    private final Tensor q;
    private final Tensor dOut;
    private final MemorySegment lse;
    private final Positions qPositions;
    private final MemorySegment delta;
    private final MemorySegment dQ;
    private final int[] qDocuments;
    private AttentionSpec documentsFor;
    private MemorySegment[] partials = new MemorySegment[0];

    /**
     * @param q          queries {@code [rows, heads, headDim]}
     * @param out        the forward output O (same shape), read once to form D
     * @param dOut       the gradient of O (same shape)
     * @param lse        the forward LSE, fp32 {@code [heads, rows]}
     * @param qPositions global positions of the rows
     */
    public BackwardState(Tensor q, Tensor out, Tensor dOut, MemorySegment lse, Positions qPositions) {
        checkSame("out", q, out);
        checkSame("dOut", q, dOut);
        if (lse == null || lse.byteSize() < (long) q.tokens() * q.heads() * 4) {
            throw new IllegalArgumentException("lse: needs " + (long) q.tokens() * q.heads() * 4 + " bytes, got "
                    + (lse == null ? "null" : lse.byteSize()));
        }
        if (qPositions == null || qPositions.size() != q.tokens()) {
            throw new IllegalArgumentException("qPositions: " + (qPositions == null ? "null" : qPositions.size())
                    + " positions for " + q.tokens() + " query tokens");
        }
        this.q = q;
        this.dOut = dOut;
        this.lse = lse;
        this.qPositions = qPositions;
        int rows = q.tokens();
        int heads = q.heads();
        int d = q.headDim();
        this.delta = arena.allocate(Math.max(4, (long) rows * heads * 4), Tensor.ALIGNMENT_BYTES);
        this.dQ = arena.allocate(Math.max(4, (long) rows * heads * d * 4), Tensor.ALIGNMENT_BYTES);
        this.qDocuments = new int[rows];
        for (int r = 0; r < rows; r++) {
            for (int h = 0; h < heads; h++) {
                long base = ((long) r * heads + h) * d;
                float sum = 0f;
                for (int c = 0; c < d; c++) {
                    sum += dOut.getFlat(base + c) * out.getFlat(base + c);
                }
                delta.setAtIndex(ValueLayout.JAVA_FLOAT, (long) h * rows + r, sum);
            }
        }
    }

    private static void checkSame(String name, Tensor q, Tensor other) {
        if (q == null) {
            throw new IllegalArgumentException("q: must not be null");
        }
        q.checkOpen("q");
        BlockArguments.checkLikeQueries(name, other, q);
    }

    public Tensor q() {
        return q;
    }

    public Tensor dOut() {
        return dOut;
    }

    /** fp32 {@code [heads, rows]}. */
    public MemorySegment lse() {
        return lse;
    }

    /** fp32 {@code [heads, rows]}: rowsum(dO∘O). */
    public MemorySegment delta() {
        return delta;
    }

    /** fp32 {@code [rows, heads, headDim]}: the dQ accumulator (scale already applied). */
    public MemorySegment dQ() {
        return dQ;
    }

    public Positions qPositions() {
        return qPositions;
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
     * {@code count} zeroed scratch buffers the size of dQ, allocated on first use and reused; a
     * kernel that splits the keys of one call into several chunks accumulates each chunk's dQ in
     * its own buffer and adds them in a fixed order, so results repeat bit for bit.
     */
    public synchronized MemorySegment[] partialDq(int count) {
        if (partials.length < count) {
            MemorySegment[] grown = new MemorySegment[count];
            System.arraycopy(partials, 0, grown, 0, partials.length);
            for (int i = partials.length; i < count; i++) {
                grown[i] = arena.allocate(dQ.byteSize(), Tensor.ALIGNMENT_BYTES);
            }
            partials = grown;
        }
        for (int i = 0; i < count; i++) {
            partials[i].fill((byte) 0);
        }
        return partials;
    }

    /** Writes dQ into {@code dq} (its dtype; same shape as q). */
    public void finish(Tensor dq) {
        checkSame("dq", q, dq);
        long n = q.elementCount();
        for (long i = 0; i < n; i++) {
            dq.setFlat(i, dQ.getAtIndex(ValueLayout.JAVA_FLOAT, i));
        }
    }

    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }
}
