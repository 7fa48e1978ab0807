package ringattn.engine.kernel;

import java.lang.foreign.MemorySegment;
import ringattn.engine.tensor.Tensor;

/**
 * The block-kernel port: attention of a block of query rows against K/V blocks that arrive one at a
 * time, each with its global positions. A caller begins a pass for its queries
 * ({@link #beginForward}, {@link #beginBackward}), updates it with each K/V block and finishes it;
 * what depends only on the queries (packing, scaling, the row terms of the backward) is done once per
 * pass. Implemented by the scalar kernel, the Vector API kernel (every width) and the GPU module,
 * all held to one contract test suite.
 *
 * <p>A kernel owns a worker pool ({@link #threads()} threads) and must be closed after its passes.
 * Calls on one kernel and its passes are serialised by the caller (one call at a time); inside a call
 * the kernel runs in parallel over (head, query tile) for the forward and over (K/V head, key tile)
 * for the backward, with a fixed reduction order, so results repeat bit for bit for a given thread
 * count and block size.
 */
public interface BlockKernel extends AutoCloseable {
    /** A short name for logs ({@code panama-512r32}: Vector API width and register file; {@code scalar}, …). */
    String name();

    /** Worker threads used inside a call. */
    int threads();

    /**
     * Begins a forward pass for queries {@code q} ({@code [rows, heads, headDim]}, F32 or BF16) at
     * global positions {@code qPositions} under {@code spec}; the pass borrows {@code q}.
     *
     * @throws IllegalArgumentException naming the argument, for a null or closed tensor or a
     *                                  positions count that differs from the rows
     */
    ForwardPass beginForward(Tensor q, Positions qPositions, AttentionSpec spec);

    /**
     * Begins a backward pass for queries {@code q} at {@code qPositions} with the forward's output
     * {@code out} and LSE ({@code lse}: fp32 {@code [heads, rows]}) and the gradient {@code dOut} of
     * O (both shaped like {@code q}); the pass borrows all four.
     *
     * @throws IllegalArgumentException naming the argument, for a null, closed or mis-shaped input
     */
    BackwardPass beginBackward(Tensor q, Positions qPositions, Tensor out, Tensor dOut, MemorySegment lse,
                               AttentionSpec spec);

    @Override
    void close();
}
