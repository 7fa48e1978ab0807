package ringattn.engine.kernel;

import ringattn.engine.tensor.Tensor;

/**
 * One backward pass of a block of query rows: begun by {@link BlockKernel#beginBackward} (which takes
 * Q, O, dO, LSE, their global positions and the mask once and forms D = rowsum(dO∘O)), updated with
 * K/V blocks in any order, finished once with dQ. Each update accumulates that block's dK and dV; the
 * dQ accumulator (fp32) stays in the kernel's own layout between updates.
 *
 * <p>Ownership: the pass borrows Q, O, dO and LSE (open and unchanged until it is closed) and owns
 * its accumulators, freed by {@link #close} (idempotent). Not thread-safe: one call at a time, calls
 * on passes of the same kernel serialised by the caller. Summation orders are fixed, so a given
 * kernel, thread count and order of blocks give the same bytes on every run.
 */
public interface BackwardPass extends AutoCloseable {
    /**
     * Accumulates the gradients contributed by keys {@code k} and values {@code v}
     * ({@code [kvTokens, kvHeads, headDim]}) at {@code kPositions}: dK and dV into {@code dK} and
     * {@code dV} (fp32, shaped like {@code k}; added to, never overwritten), dQ into the pass.
     *
     * @throws IllegalArgumentException naming the argument, for a shape, dtype or positions mismatch
     * @throws IllegalStateException    after {@link #finish} or {@link #close}
     */
    void update(Tensor k, Tensor v, Positions kPositions, Tensor dK, Tensor dV);

    /** Writes dQ into {@code dq} (the queries' shape, any dtype). Once per pass. */
    void finish(Tensor dq);

    @Override
    void close();
}
