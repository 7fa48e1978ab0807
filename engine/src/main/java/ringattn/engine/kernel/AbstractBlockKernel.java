package ringattn.engine.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import ringattn.engine.concurrent.WorkerPool;
import ringattn.engine.tensor.Tensor;

/**
 * Shared skeleton of the CPU kernels: the passes' argument checks and life cycle, the split of each
 * update into tasks, and the fixed-order reduction that keeps the backward deterministic. Subclasses
 * implement one task, and may keep a forward pass's state in their own layout ({@link #newForward}).
 *
 * <p>Forward tasks are (query head, query tile); backward tasks are (K/V head, key chunk), where a
 * key chunk is a run of key tiles. Each backward task owns the dK/dV rows of its chunk; the dQ it
 * produces goes to the state's accumulator (chunk 0) or to a partial buffer (chunk c &gt; 0), and
 * the partials are added in chunk order after all tasks finish.
 */
public abstract class AbstractBlockKernel implements BlockKernel {
    protected final KernelOptions options;
    protected final WorkerPool pool;

    /** One update of a forward pass, as seen by its tasks. Arrays are read-only for tasks. */
    protected record ForwardCall(Forward pass, Tensor k, Tensor v, Positions kPositions,
                                 int[] qDocuments, int[] kDocuments, AttentionSpec spec, int group) {
    }

    /** One update of a backward pass, as seen by its tasks. */
    protected record BackwardCall(BackwardState state, Tensor k, Tensor v, Positions kPositions,
                                  Tensor dK, Tensor dV, int[] qDocuments, int[] kDocuments,
                                  AttentionSpec spec, int group, int chunks, int tilesPerChunk) {
    }

    protected AbstractBlockKernel(KernelOptions options, String poolName) {
        this.options = options;
        this.pool = new WorkerPool(options.threads(), poolName);
    }

    @Override
    public int threads() {
        return options.threads();
    }

    /**
     * Begins a forward pass: {@link #newForward} (the state in the subclass's layout) after the
     * argument checks.
     */
    @Override
    public final ForwardPass beginForward(Tensor q, Positions qPositions, AttentionSpec spec) {
        BlockArguments.checkQueries(q, qPositions, spec);
        return newForward(q, qPositions, spec);
    }

    /**
     * A forward pass in this kernel's layout; the default keeps a {@link ForwardState} (natural-log
     * units, the scalar kernel's layout). Arguments are checked.
     */
    protected Forward newForward(Tensor q, Positions qPositions, AttentionSpec spec) {
        return new StateForward(q, qPositions, spec);
    }

    @Override
    public final BackwardPass beginBackward(Tensor q, Positions qPositions, Tensor out, Tensor dOut, MemorySegment lse,
                                            AttentionSpec spec) {
        BlockArguments.checkQueries(q, qPositions, spec);
        return new StateBackward(new BackwardState(q, out, dOut, lse, qPositions), spec);
    }

    /**
     * A forward pass of this kernel: the queries, their positions and documents (fixed for the
     * pass), the split of each update into tasks, and the life cycle (update until finish or close).
     * Subclasses hold the online-softmax state in their own layout.
     */
    protected abstract class Forward implements ForwardPass {
        private final Tensor q;
        private final Positions qPositions;
        private final AttentionSpec spec;
        private final int[] qDocuments;
        private final int taskRows;
        private boolean finished;
        private boolean closed;

        protected Forward(Tensor q, Positions qPositions, AttentionSpec spec) {
            this.q = q;
            this.qPositions = qPositions;
            this.spec = spec;
            this.qDocuments = spec.documentsOf(qPositions);
            this.taskRows = forwardTaskRows(q.tokens(), q.heads(), q.headDim());
        }

        /** Query rows per forward task ({@link #forwardTaskRows}), fixed for the pass. */
        public final int taskRows() {
            return taskRows;
        }

        public final Tensor q() {
            return q;
        }

        public final Positions qPositions() {
            return qPositions;
        }

        public final AttentionSpec spec() {
            return spec;
        }

        /** Document index of each query row under the pass's spec (read-only). */
        public final int[] qDocuments() {
            return qDocuments;
        }

        private void checkLive(String what) {
            if (closed) {
                throw new IllegalStateException(what + ": the forward pass is closed");
            }
            if (finished) {
                throw new IllegalStateException(what + ": the forward pass is finished");
            }
        }

        @Override
        public final void update(Tensor k, Tensor v, Positions kPositions) {
            checkLive("update");
            int group = BlockArguments.checkBlock(q, k, v, kPositions, spec);
            int n = k.tokens();
            int run = keysPerRun(k, false);
            // A block larger than the kernel takes at once goes in runs of whole key tiles: each
            // query row then meets the same tiles in the same order as in one update.
            for (int c0 = 0; c0 < n; c0 += run) {
                int count = Math.min(run, n - c0);
                updateRun(k.tokens(c0, count), v.tokens(c0, count), kPositions.slice(c0, count), group);
            }
        }

        private void updateRun(Tensor k, Tensor v, Positions kPositions, int group) {
            if (k.tokens() == 0 || q.tokens() == 0) {
                return;
            }
            int[] kDocs = spec.documentsOf(kPositions);
            if (spec.classify(qPositions.first(), qPositions.last(), qDocuments[0], qDocuments[qDocuments.length - 1],
                    kPositions.first(), kPositions.last(), kDocs[0], kDocs[kDocs.length - 1]) == TileVisibility.HIDDEN) {
                return; // the whole block is masked: do not touch it
            }
            ForwardCall call = new ForwardCall(this, k, v, kPositions, qDocuments, kDocs, spec, group);
            prepareForward(call);
            int rows = q.tokens();
            int heads = q.heads();
            int tiles = ceilDiv(rows, taskRows);
            // Last rows first: under a causal mask they see the most keys, so the small tasks come last
            // and the workers finish together (rows are independent: the order changes no result).
            pool.run(heads * tiles, (task, worker) -> {
                int head = task / tiles;
                int r0 = (tiles - 1 - task % tiles) * taskRows;
                forwardTask(call, head, r0, Math.min(rows, r0 + taskRows), worker);
            });
            completeForward(call);
        }

        @Override
        public final void finish(Tensor out, MemorySegment lse) {
            checkLive("finish");
            BlockArguments.checkLikeQueries("out", out, q);
            BlockArguments.checkLse(lse, q);
            finished = true;
            write(out, lse);
        }

        /** Writes O and LSE (arguments checked) as {@link ForwardPass#finish} says. */
        protected abstract void write(Tensor out, MemorySegment lse);

        @Override
        public final void close() {
            if (!closed) {
                closed = true;
                release();
            }
        }

        /** Frees the pass's state (once). */
        protected abstract void release();
    }

    /** The default forward pass: the state as a {@link ForwardState}. */
    protected final class StateForward extends Forward {
        private final ForwardState state;

        StateForward(Tensor q, Positions qPositions, AttentionSpec spec) {
            super(q, qPositions, spec);
            this.state = new ForwardState(q, qPositions);
        }

        public ForwardState state() {
            return state;
        }

        @Override
        protected void write(Tensor out, MemorySegment lse) {
            state.finish(out, lse);
        }

        @Override
        protected void release() {
            state.close();
        }
    }

    /** The backward pass: the state as a {@link BackwardState} (D formed once, fp32 dQ). */
    private final class StateBackward implements BackwardPass {
        private final BackwardState state;
        private final AttentionSpec spec;
        private boolean finished;
        private boolean closed;

        StateBackward(BackwardState state, AttentionSpec spec) {
            this.state = state;
            this.spec = spec;
        }

        private void checkLive(String what) {
            if (closed) {
                throw new IllegalStateException(what + ": the backward pass is closed");
            }
            if (finished) {
                throw new IllegalStateException(what + ": the backward pass is finished");
            }
        }

        @Override
        public void update(Tensor k, Tensor v, Positions kPositions, Tensor dK, Tensor dV) {
            checkLive("update");
            backwardBlock(state, k, v, kPositions, dK, dV, spec);
        }

        @Override
        public void finish(Tensor dq) {
            checkLive("finish");
            finished = true;
            state.finish(dq);
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                state.close();
            }
        }
    }

    private void backwardBlock(BackwardState state, Tensor k, Tensor v, Positions kPositions,
                               Tensor dK, Tensor dV, AttentionSpec spec) {
        int group = BlockArguments.checkBlock(state.q(), k, v, kPositions, spec);
        BlockArguments.checkGrad("dK", dK, k);
        BlockArguments.checkGrad("dV", dV, k);
        int n = k.tokens();
        int run = keysPerRun(k, true);
        for (int c0 = 0; c0 < n; c0 += run) {
            int count = Math.min(run, n - c0);
            backwardRun(state, k.tokens(c0, count), v.tokens(c0, count), kPositions.slice(c0, count),
                    dK.tokens(c0, count), dV.tokens(c0, count), spec, group);
        }
    }

    private void backwardRun(BackwardState state, Tensor k, Tensor v, Positions kPositions,
                             Tensor dK, Tensor dV, AttentionSpec spec, int group) {
        if (k.tokens() == 0 || state.q().tokens() == 0) {
            return;
        }
        int[] qDocs = state.queryDocuments(spec);
        int[] kDocs = spec.documentsOf(kPositions);
        Positions qPos = state.qPositions();
        if (spec.classify(qPos.first(), qPos.last(), qDocs[0], qDocs[qDocs.length - 1],
                kPositions.first(), kPositions.last(), kDocs[0], kDocs[kDocs.length - 1]) == TileVisibility.HIDDEN) {
            return;
        }
        int kvHeads = k.heads();
        int keyTiles = ceilDiv(k.tokens(), options.keyTile());
        int chunks = Math.max(1, Math.min(keyTiles, ceilDiv(options.threads(), kvHeads)));
        int tilesPerChunk = ceilDiv(keyTiles, chunks);
        chunks = ceilDiv(keyTiles, tilesPerChunk);
        MemorySegment[] partials = chunks > 1 ? state.partialDq(chunks - 1) : new MemorySegment[0];
        BackwardCall call = new BackwardCall(state, k, v, kPositions, dK, dV, qDocs, kDocs, spec, group,
                chunks, tilesPerChunk);
        prepareBackward(call);
        int chunkCount = chunks;
        pool.run(kvHeads * chunkCount, (task, worker) -> {
            int g = task / chunkCount;
            int c = task % chunkCount;
            int k0 = c * tilesPerChunk * options.keyTile();
            int k1 = Math.min(k.tokens(), k0 + tilesPerChunk * options.keyTile());
            MemorySegment target = c == 0 ? state.dQ() : partials[c - 1];
            backwardTask(call, g, k0, k1, target, worker);
        });
        if (chunks > 1) {
            reducePartials(state, partials, chunks - 1);
        }
    }

    private void reducePartials(BackwardState state, MemorySegment[] partials, int count) {
        MemorySegment dQ = state.dQ();
        long n = state.q().elementCount();
        int parts = options.threads();
        long per = (n + parts - 1) / parts;
        pool.run(parts, (task, worker) -> {
            long from = task * per;
            long to = Math.min(n, from + per);
            for (int p = 0; p < count; p++) {
                addInto(dQ, partials[p], from, to);
            }
        });
    }

    /** {@code dst[i] += src[i]} for fp32 elements {@code [from, to)}; SIMD kernels override. */
    protected void addInto(MemorySegment dst, MemorySegment src, long from, long to) {
        for (long i = from; i < to; i++) {
            dst.setAtIndex(ValueLayout.JAVA_FLOAT, i,
                    dst.getAtIndex(ValueLayout.JAVA_FLOAT, i) + src.getAtIndex(ValueLayout.JAVA_FLOAT, i));
        }
    }

    /**
     * Keys of {@code k}'s block taken at once by a forward or {@code backward} update (a multiple of
     * the key tile, at least one tile): a larger block is updated in runs of this many keys, in order.
     */
    private int keysPerRun(Tensor k, boolean backward) {
        long most = maxKeysPerRun(k.heads(), k.headDim(), backward);
        int tile = options.keyTile();
        return (int) Math.min(Integer.MAX_VALUE, Math.max(tile, most / tile * tile));
    }

    /**
     * Most keys of a block with {@code kvHeads} heads of {@code headDim} one forward or
     * {@code backward} update takes at once; kernels that copy the block into scratch bound that
     * scratch with it (default: no bound).
     */
    protected long maxKeysPerRun(int kvHeads, int headDim, boolean backward) {
        return Integer.MAX_VALUE;
    }

    /** Hook run once per forward update before the tasks (for example to pack K). */
    protected void prepareForward(ForwardCall call) {
    }

    /** Hook run once per backward update before the tasks. */
    protected void prepareBackward(BackwardCall call) {
    }

    /** Called once per forward update after every {@link #forwardTask} has returned (default: nothing). */
    protected void completeForward(ForwardCall call) {
    }

    /**
     * Query rows per forward task, a multiple of {@code options.queryTile()} (the default: one
     * tile). A kernel may give a task several query tiles to share each K/V tile between them.
     */
    protected int forwardTaskRows(int rows, int heads, int headDim) {
        return options.queryTile();
    }

    /**
     * Updates rows {@code [r0, r1)} of query head {@code head} with the whole K/V block; {@code r0}
     * is a multiple of {@link #forwardTaskRows}.
     */
    protected abstract void forwardTask(ForwardCall call, int head, int r0, int r1, int worker);

    /**
     * Accumulates, for K/V head {@code g} and keys {@code [k0, k1)}, dK and dV into the call's
     * tensors and dQ of the group's query heads into {@code dQ} ({@code [rows, heads, headDim]}).
     */
    protected abstract void backwardTask(BackwardCall call, int g, int k0, int k1, MemorySegment dQ, int worker);

    /** Classifies the tile of query rows {@code [r0, r1)} against key rows {@code [c0, c1)}. */
    protected static TileVisibility classify(AttentionSpec spec, Positions qPos, int[] qDocs, int r0, int r1,
                                             Positions kPos, int[] kDocs, int c0, int c1) {
        if (spec.isUnmasked()) {
            return TileVisibility.VISIBLE;
        }
        return spec.classify(qPos.get(r0), qPos.get(r1 - 1), qDocs[r0], qDocs[r1 - 1],
                kPos.get(c0), kPos.get(c1 - 1), kDocs[c0], kDocs[c1 - 1]);
    }

    protected static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    @Override
    public void close() {
        pool.close();
    }
}
