package ringattn.engine.kernel;

import java.lang.foreign.MemorySegment;
import ringattn.engine.tensor.Tensor;

/**
 * One forward pass of a block of query rows: begun by {@link BlockKernel#beginForward} (which takes
 * the queries, their global positions and the mask once), updated with K/V blocks in any order,
 * finished once. Between updates the online-softmax state (running max, sum and unnormalised output,
 * fp32) stays in the kernel's own layout — packed, rescaled or on a device — so nothing per pass is
 * redone per block.
 *
 * <p>Ownership: the pass borrows the queries (they must stay open and unchanged until it is closed)
 * and owns its state, freed by {@link #close} (idempotent; a pass closed before {@link #finish} is
 * abandoned). Not thread-safe: one call at a time, and calls on passes of the same kernel are
 * serialised by the caller; several passes of one kernel may be open at once.
 */
public interface ForwardPass extends AutoCloseable {
    /**
     * Adds keys {@code k} and values {@code v} ({@code [kvTokens, kvHeads, headDim]}, the dtype of
     * the queries) at global positions {@code kPositions} to the state. A block the mask hides
     * entirely is skipped without reading it.
     *
     * @throws IllegalArgumentException naming the argument, for a shape, dtype or positions mismatch
     * @throws IllegalStateException    after {@link #finish} or {@link #close}
     */
    void update(Tensor k, Tensor v, Positions kPositions);

    /**
     * Writes O = acc / l into {@code out} (the queries' shape, any dtype) and LSE = m + ln l (fp32,
     * {@code [heads, rows]}, natural log) into {@code lse} (may be null); rows that saw no key get
     * O = 0 and LSE = −∞. Once per pass; the pass accepts no update after it.
     */
    void finish(Tensor out, MemorySegment lse);

    @Override
    void close();
}
