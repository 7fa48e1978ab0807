package ringattn.engine.ring;

import java.util.Locale;
import ringattn.engine.kernel.Positions;
import ringattn.engine.tensor.Tensor;

/**
 * How a global sequence of S tokens is split over P ranks. Every layout works for any S ≥ 0 and
 * P ≥ 1 (shards differ by at most one token per chunk; ranks may get empty shards when S &lt; P).
 * Positions within a shard are increasing; every global position belongs to exactly one shard.
 */
public enum ShardLayout {
    /** Rank r holds tokens {@code [⌊rS/P⌋, ⌊(r+1)S/P⌋)}. */
    CONTIGUOUS,
    /**
     * The sequence is cut into 2P chunks; rank r holds chunks r and 2P−1−r. With a causal mask every
     * rank then does the same work (the default for causal attention).
     */
    ZIGZAG,
    /** Rank r holds tokens r, r+P, r+2P, … */
    STRIPED;

    /** Parses {@code contiguous|zigzag|striped} (any case), naming the argument when wrong. */
    public static ShardLayout parse(String name) {
        try {
            return valueOf(name.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException | NullPointerException e) {
            throw new IllegalArgumentException("layout: expected contiguous, zigzag or striped, got '" + name + "'");
        }
    }

    /** The global positions of the tokens rank {@code rank} holds. */
    public Positions positions(int rank, int worldSize, int seqLen) {
        if (worldSize < 1) {
            throw new IllegalArgumentException("worldSize: must be >= 1, got " + worldSize);
        }
        if (rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException("rank: must be in [0, " + worldSize + "), got " + rank);
        }
        if (seqLen < 0) {
            throw new IllegalArgumentException("seqLen: must be >= 0, got " + seqLen);
        }
        return switch (this) {
            case CONTIGUOUS -> {
                int a = bound(rank, worldSize, seqLen);
                yield Positions.range(a, bound(rank + 1, worldSize, seqLen) - a);
            }
            case ZIGZAG -> {
                int chunks = 2 * worldSize;
                int a0 = bound(rank, chunks, seqLen);
                int a1 = bound(rank + 1, chunks, seqLen);
                int b0 = bound(chunks - 1 - rank, chunks, seqLen);
                int b1 = bound(chunks - rank, chunks, seqLen);
                yield Positions.concat(Positions.range(a0, a1 - a0), Positions.range(b0, b1 - b0));
            }
            case STRIPED -> {
                int n = seqLen > rank ? (seqLen - rank + worldSize - 1) / worldSize : 0;
                int[] p = new int[n];
                for (int i = 0; i < n; i++) {
                    p[i] = rank + i * worldSize;
                }
                yield Positions.of(p);
            }
        };
    }

    private static int bound(int i, int parts, int seqLen) {
        return (int) ((long) i * seqLen / parts);
    }

    /** Copies the rows of {@code global} at this rank's positions into a new tensor (caller owns it). */
    public Tensor shard(Tensor global, int rank, int worldSize) {
        Positions p = positions(rank, worldSize, global.tokens());
        Tensor out = Tensor.allocate(p.size(), global.heads(), global.headDim(), global.dtype());
        long row = global.tokenStrideBytes();
        for (int i = 0; i < p.size(); i++) {
            java.lang.foreign.MemorySegment.copy(global.segment(), p.get(i) * row, out.segment(), i * row, row);
        }
        return out;
    }

    /** Writes the rows of {@code shard} (rank {@code rank}'s) to their global rows in {@code global}. */
    public void unshard(Tensor shard, int rank, int worldSize, Tensor global) {
        Positions p = positions(rank, worldSize, global.tokens());
        if (shard.tokens() != p.size() || shard.heads() != global.heads() || shard.headDim() != global.headDim()
                || shard.dtype() != global.dtype()) {
            throw new IllegalArgumentException("shard: " + shard.shapeString() + " does not match rank " + rank
                    + "'s " + p.size() + " rows of " + global.shapeString());
        }
        long row = global.tokenStrideBytes();
        for (int i = 0; i < p.size(); i++) {
            java.lang.foreign.MemorySegment.copy(shard.segment(), i * row, global.segment(), p.get(i) * row, row);
        }
    }
}
