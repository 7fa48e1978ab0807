package ringattn.engine.ring;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import ringattn.engine.tensor.Tensor;

/**
 * One rank's forward output: O for its query shard ({@code [shardTokens, heads, headDim]}, the
 * dtype of Q), the LSE ({@code [heads, shardTokens]} fp32, natural log, −∞ for rows that see no
 * key) and the timing. Owns O and LSE; close it when done.
 */
public final class ForwardResult implements AutoCloseable {
    private final Tensor out;
    private final Arena arena;
    private final MemorySegment lse;
    private final RingStats stats;

    ForwardResult(Tensor out, Arena arena, MemorySegment lse, RingStats stats) {
        this.out = out;
        this.arena = arena;
        this.lse = lse;
        this.stats = stats;
    }

    public Tensor out() {
        return out;
    }

    /** fp32 {@code [heads, shardTokens]}. */
    public MemorySegment lse() {
        return lse;
    }

    /** LSE of (head, local row). */
    public float lse(int head, int row) {
        return lse.getAtIndex(ValueLayout.JAVA_FLOAT, (long) head * out.tokens() + row);
    }

    public RingStats stats() {
        return stats;
    }

    @Override
    public void close() {
        out.close();
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }
}
