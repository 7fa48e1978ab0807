package ringattn.model;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import ringattn.engine.concurrent.WorkerPool;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.transport.RingTransport;
import ringattn.engine.transport.Transfer;
import ringattn.model.linalg.DecodeAttention;
import ringattn.model.linalg.MatMul;

/**
 * One rank's decoding over a K/V cache sharded across the ring. Each step: the new token goes
 * through every layer on every rank (weights are replicated; one token's activations are small); in
 * each layer every rank computes the new query's attention over its own cache shard
 * ({@link DecodeAttention}: Vector API along the keys, GQA, fp32) and its LSE, and the partial results combine exactly, in rank order, after
 * one all-gather of {@code (LSE, O)} per layer: {@code O = Σ_r e^(LSE_r − M) O_r / Σ_r e^(LSE_r − M)},
 * {@code M = max_r LSE_r}, in fp64, so every rank gets the same bits and a P-rank decode equals a
 * one-rank decode to rounding.
 *
 * <p>The new token's K/V goes to one rank: the one holding the fewest tokens (the lowest rank on
 * ties). Every rank tracks every rank's count from the shard layout, so the choice needs no message
 * and keeps the shards within one token of balanced once the prompt's shards are.
 *
 * <p>Borrows the model, transport, matrix multiply and pool; owns the cache and its scratch
 * (closed by {@link #close}). Collective and not thread-safe: every rank calls {@link #step} with the
 * same tokens in the same order.
 */
public final class Decoder implements AutoCloseable {
    private final LlamaModel model;
    private final RingTransport transport;
    private final KvCache cache;
    private final MatMul mm;
    private final WorkerPool pool;
    private final Duration timeout;
    private final AttentionSpec spec;
    private final int[] counts;
    private final LlamaModel.DecodeScratch scratch;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment out;
    private final float[][] workerScores;
    private final MemorySegment lse;
    private final byte[] partial;
    private final MemorySegment partialView;
    private final MemorySegment tokenView = MemorySegment.ofArray(new byte[4]);
    private final double[] weights;
    /** Every rank's state after a gather, {@code [world, stateBytes]}. */
    private final MemorySegment gathered;
    /** Views of {@link #gathered} by rank for the attention states and for a token id: made once, reused every step. */
    private final MemorySegment[] stateSlices;
    private final MemorySegment[] tokenSlices;
    private long reductionNanos;
    private long attentionNanos;

    /**
     * A decoder over {@code cache} (already holding this rank's prompt shard, as the prefill left it),
     * where rank r holds {@code counts[r]} tokens.
     */
    public Decoder(LlamaModel model, RingTransport transport, KvCache cache, int[] counts, MatMul mm, WorkerPool pool,
                   Duration timeout) {
        if (counts.length != transport.worldSize() || counts[transport.rank()] != cache.size()) {
            throw new IllegalArgumentException("counts: expected " + transport.worldSize() + " ranks' token counts with "
                    + cache.size() + " for rank " + transport.rank());
        }
        this.model = model;
        this.transport = transport;
        this.cache = cache;
        this.mm = mm;
        this.pool = pool;
        this.timeout = timeout;
        LlamaConfig c = model.config();
        this.spec = AttentionSpec.of(c.headDim()).withCausal(true);
        this.counts = counts.clone();
        this.scratch = model.newDecodeScratch();
        this.out = arena.allocate(4L * c.qDim(), 64);
        this.lse = arena.allocate(4L * c.heads(), 64);
        this.workerScores = new float[pool.size()][Math.max(1, cache.capacity())];
        this.partial = new byte[4 * (c.heads() + c.qDim())];
        this.partialView = MemorySegment.ofArray(partial);
        this.weights = new double[transport.worldSize()];
        this.gathered = arena.allocate((long) transport.worldSize() * partial.length, 64);
        this.stateSlices = slices(partial.length);
        this.tokenSlices = slices(4);
    }

    /** The rank that keeps the next token's K/V: the fewest tokens, the lowest rank on ties. */
    public int nextOwner() {
        int best = 0;
        for (int r = 1; r < counts.length; r++) {
            if (counts[r] < counts[best]) {
                best = r;
            }
        }
        return best;
    }

    /** Tokens each rank holds. */
    public int[] counts() {
        return counts.clone();
    }

    /** Nanoseconds spent in this rank's attention over its shard so far (the reduction not included). */
    public long attentionNanos() {
        return attentionNanos;
    }

    /** Nanoseconds spent in the cross-rank reduction (all-gather and combine) so far. */
    public long reductionNanos() {
        return reductionNanos;
    }

    /**
     * Decodes {@code token} at global position {@code position}: appends its K/V to the owner's
     * shard and leaves the logits for the next token in {@link #logits()}. Collective.
     */
    public void step(int token, int position) {
        int owner = nextOwner();
        int rank = transport.rank();
        if (rank == owner) {
            cache.append(position);
        }
        counts[owner]++;
        LlamaConfig c = model.config();
        model.decode(token, position, (layer, q, k, v, out) -> {
            if (rank == owner) {
                cache.putRows(layer, cache.size() - 1, 1, k, v);
            }
            long t0 = System.nanoTime();
            attendShard(layer, q, c);
            attentionNanos += System.nanoTime() - t0;
            if (transport.worldSize() == 1) {
                MemorySegment.copy(this.out, 0, out, 0, 4L * c.qDim());
            } else {
                combine(out, c.heads(), c.headDim());
            }
        }, mm, pool, scratch);
    }

    /** The logits left by the last {@link #step}: fp32 {@code [vocab]}, valid until the next step. */
    public MemorySegment logits() {
        return scratch.logits();
    }

    /**
     * This rank's partial attention of the new query over its shard ({@link DecodeAttention}): O into
     * {@link #out} and LSE into {@link #lse}, the heads split over the pool.
     */
    private void attendShard(int layer, MemorySegment q, LlamaConfig c) {
        int heads = c.heads();
        int n = cache.size();
        float scale = spec.scale();
        int parts = Math.min(heads, workerScores.length);
        pool.run(parts, (task, worker) -> DecodeAttention.attend(q, heads, c.kvHeads(), c.headDim(), scale,
                cache.keys(layer), cache.values(layer), cache.capacity(), n, task * heads / parts,
                (task + 1) * heads / parts, workerScores[worker], out, lse));
    }

    /**
     * The bytes of one rank's partial attention state, {@code 4 · heads · (1 + headDim)}: what the
     * transport's slots must hold for the decoder's reduction ({@link ringattn.engine.ring.RingOptions#withMinSlotBytes}).
     */
    public static long stateBytes(LlamaConfig c) {
        return 4L * (c.heads() + c.qDim());
    }

    /** Tags of the decoder's messages: far above the ring's own, which count up from 0 per prefill post. */
    private static final int FIRST_TAG = 0x4000_0000;
    private int tag = FIRST_TAG;

    /**
     * Rank 0's {@code token} on every rank (the other ranks' arguments are ignored): one all-gather
     * of 4 bytes over the data path, like the reduction's. Every rank samples from the same logits,
     * but only rank 0's choice counts, so that ranks cannot drift apart. Collective.
     */
    public int shareToken(int token) {
        if (transport.worldSize() == 1) {
            return token;
        }
        tokenView.set(ValueLayout.JAVA_INT_UNALIGNED, 0, token);
        return gather(tokenView, tokenSlices)[0].get(ValueLayout.JAVA_INT_UNALIGNED, 0);
    }

    /**
     * Every rank's {@code mine} (the same size on every rank), by rank: a ring all-gather over the
     * transport's data path through two of its slots (P − 1 steps, each forwarding what arrived
     * before) into {@code slices} (this size's views of {@link #gathered}, made once, returned), or the
     * control plane's all-gather when the slots are too small. More than one rank.
     */
    private MemorySegment[] gather(MemorySegment mine, MemorySegment[] slices) {
        int world = transport.worldSize();
        int rank = transport.rank();
        long bytes = mine.byteSize();
        if (transport.buffer(0).byteSize() < bytes || transport.buffer(1).byteSize() < bytes) {
            MemorySegment[] parts = new MemorySegment[world];
            byte[][] all = transport.allGather(mine.toArray(ValueLayout.JAVA_BYTE), timeout);
            for (int r = 0; r < world; r++) {
                if (all[r].length != bytes) {
                    throw new IllegalStateException("rank " + r + ": sent " + all[r].length + " bytes, expected " + bytes);
                }
                parts[r] = MemorySegment.ofArray(all[r]);
            }
            return parts;
        }
        MemorySegment.copy(mine, 0, gathered, (long) rank * bytes, bytes);
        MemorySegment.copy(mine, 0, transport.buffer(0), 0, bytes);
        int current = 0;
        for (int s = 0; s < world - 1; s++) {
            int other = 1 - current;
            int step = tag++;
            Transfer in = transport.receiveFromPrevious(other, bytes, step);
            Transfer out = transport.sendToNext(current, bytes, step);
            out.await(timeout);
            in.await(timeout);
            int origin = Math.floorMod(rank - s - 1, world);
            MemorySegment.copy(transport.buffer(other), 0, gathered, (long) origin * bytes, bytes);
            current = other;
        }
        return slices;
    }

    /** {@code world} views of {@link #gathered}, {@code bytes} each, by rank. */
    private MemorySegment[] slices(long bytes) {
        MemorySegment[] s = new MemorySegment[transport.worldSize()];
        for (int r = 0; r < s.length; r++) {
            s[r] = gathered.asSlice((long) r * bytes, bytes);
        }
        return s;
    }

    /** Gathers every rank's (LSE, O) and combines them in rank order into {@code out}. */
    private void combine(MemorySegment out, int heads, int hd) {
        long t0 = System.nanoTime();
        MemorySegment.copy(lse, 0, partialView, 0, 4L * heads);
        MemorySegment.copy(this.out, 0, partialView, 4L * heads, 4L * heads * hd);
        MemorySegment[] parts = gather(partialView, stateSlices);
        int world = parts.length;
        for (int h = 0; h < heads; h++) {
            double m = Double.NEGATIVE_INFINITY;
            boolean nan = false;
            for (int r = 0; r < world; r++) {
                float l = parts[r].get(ValueLayout.JAVA_FLOAT_UNALIGNED, 4L * h);
                nan |= Float.isNaN(l);
                m = Math.max(m, l);
            }
            double den = 0;
            for (int r = 0; r < world; r++) {
                float l = parts[r].get(ValueLayout.JAVA_FLOAT_UNALIGNED, 4L * h);
                weights[r] = m == Double.NEGATIVE_INFINITY ? 0 : Math.exp(l - m);
                den += weights[r];
            }
            for (int d = 0; d < hd; d++) {
                double acc = 0;
                for (int r = 0; r < world; r++) {
                    if (weights[r] != 0) {
                        acc += weights[r] * parts[r].get(ValueLayout.JAVA_FLOAT_UNALIGNED, 4L * heads + 4L * (h * hd + d));
                    }
                }
                float value = nan ? Float.NaN : den == 0 ? 0f : (float) (acc / den);
                out.setAtIndex(ValueLayout.JAVA_FLOAT, (long) h * hd + d, value);
            }
        }
        reductionNanos += System.nanoTime() - t0;
    }

    @Override
    public void close() {
        scratch.close();
        cache.close();
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }
}
