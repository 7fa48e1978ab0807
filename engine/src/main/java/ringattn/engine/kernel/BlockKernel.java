package ringattn.engine.kernel;

import ringattn.engine.tensor.Tensor;

/**
 * The block-kernel port: attention of a block of query rows against one block of keys/values,
 * each with its global positions. Implemented by the scalar kernel, the Vector API kernel and the
 * GPU module. Implementations own a worker pool ({@link #threads()} threads) and must be closed.
 *
 * <p>Calls on one kernel are serialised by the caller (one call at a time); inside a call the
 * kernel runs in parallel over (head, query tile) for the forward and over (K/V head, key tile)
 * for the backward, with a fixed reduction order, so results repeat bit for bit for a given thread
 * count and block size.
 */
public interface BlockKernel extends AutoCloseable {
    /** A short name for logs ({@code panama-512r32}: Vector API width and register file; {@code scalar}, …). */
    String name();

    /** Worker threads used inside a call. */
    int threads();

    /**
     * Updates {@code state} with keys {@code k} and values {@code v} ({@code [kvTokens, kvHeads,
     * headDim]}, same dtype family as any), at global positions {@code kPositions}.
     */
    void forward(ForwardState state, Tensor k, Tensor v, Positions kPositions, AttentionSpec spec);

    /**
     * Accumulates the gradients contributed by one K/V block: dQ into {@code state}, and dK, dV
     * (fp32 tensors shaped like {@code k}, accumulated into, never overwritten) for the block.
     */
    void backward(BackwardState state, Tensor k, Tensor v, Positions kPositions,
                  Tensor dK, Tensor dV, AttentionSpec spec);

    @Override
    void close();
}
