package ringattn.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.List;
import ringattn.cuda.ffm.Cublas;
import ringattn.cuda.ffm.KernelArgs;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.BackwardPass;
import ringattn.engine.kernel.BackwardState;
import ringattn.engine.kernel.BlockArguments;
import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.ForwardPass;
import ringattn.engine.kernel.ForwardState;
import ringattn.engine.kernel.KernelOptions;
import ringattn.engine.kernel.Positions;
import ringattn.engine.kernel.TileVisibility;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/**
 * The block kernel on a CUDA GPU: scores and the output update through cuBLAS
 * ({@code cublasGemmStridedBatchedEx}, fp32 compute), the masked online-softmax step as a small PTX
 * kernel. Same state semantics as {@link ringattn.engine.kernel.ScalarKernel}: scaled scores,
 * {@code rowMax}/{@code rowSum} in natural-log units, unnormalised fp32 accumulator.
 *
 * <p><b>Data movement, per call.</b> Q stays on the device: it is uploaded (through a pinned
 * buffer), permuted to {@code [kvHeads, rows, group, headDim]} and kept for as long as calls come
 * with the same {@link ForwardState} (by identity; Q must not change under a state, as
 * {@code ForwardState} already requires). Each call then uploads the visible key range of K and V
 * through a pinned buffer, uploads the state (the accumulator rows that see any key of the block,
 * and all of {@code rowMax}/{@code rowSum}), runs, and copies the state back before returning, so the
 * host {@code ForwardState} is always current and {@link ForwardState#finish} works unchanged. The
 * state round trip costs about {@code 2·rows·heads·headDim·4} bytes per call; keeping it on the
 * device for a whole pass would need an end-of-pass hook in the port.
 *
 * <p><b>Work.</b> Query rows go in chunks (at most {@code ringattn.cuda.queryChunk} rows, default
 * 1024, and at most {@code ringattn.cuda.scoreBytes} of fp32 scores, default 256 MiB); each chunk
 * runs only over the key columns that some of its rows can see (key tiles of
 * {@link KernelOptions#keyTile()} classified by global positions), and chunks that see nothing are
 * skipped, as are blocks that are hidden as a whole. Per chunk: {@code S = scale·Q Kᵀ} (BF16 inputs
 * when Q and K are both BF16, else fp32), the softmax kernel (masks by global position, running
 * max/sum, rescale of the accumulator), then {@code acc += P V} in fp32 (BF16 V is widened first).
 *
 * <p>Backward runs on the GPU too, in fp32 (see {@link #backward}). Calls are serialised
 * (synchronised); the CUDA context is made current on the calling thread at each call, so any
 * thread may call.
 */
public final class CublasKernel implements BlockKernel {
    private static final int THREADS = 256;
    private static final long ALIGN = 256;

    private final KernelOptions options;
    private final DeviceOps dev;
    private final int device;
    private final String name;
    private final int maxQueryChunk;
    private final long scoreBudgetBytes;
    private final Arena arena = Arena.ofShared();
    private final KernelArgs args;

    private final DeviceBuffer qRaw;
    private final DeviceBuffer qWide;
    private final DeviceBuffer qDev;
    private final DeviceBuffer qMeta;
    private final DeviceBuffer kDev;
    private final DeviceBuffer vDev;
    private final DeviceBuffer kWide;
    private final DeviceBuffer vWide;
    private final DeviceBuffer kMeta;
    private final DeviceBuffer accNatural;
    private final DeviceBuffer accDev;
    private final DeviceBuffer stats;
    private final DeviceBuffer scores;
    private final DeviceBuffer scores2;
    private final DeviceBuffer doRaw;
    private final DeviceBuffer doDev;
    private final DeviceBuffer lseDelta;
    private final DeviceBuffer gradK;
    private final DeviceBuffer gradV;
    private final PinnedBuffer pinnedQuery;
    private final PinnedBuffer pinnedBlock;
    private final PinnedBuffer pinnedState;

    private WeakReference<Object> queryOf = new WeakReference<>(null);
    private AttentionSpec queryDocsOf;
    private boolean queryBf16;
    private boolean closed;

    /** One query chunk {@code [r0, r1)} and the key columns {@code [c0, c1)} it can see. */
    record Chunk(int r0, int r1, int c0, int c1) {
        /** The smallest chunk that covers every one of {@code chunks} (not empty). */
        static Chunk cover(List<Chunk> chunks) {
            int r0 = Integer.MAX_VALUE;
            int r1 = 0;
            int c0 = Integer.MAX_VALUE;
            int c1 = 0;
            for (Chunk c : chunks) {
                r0 = Math.min(r0, c.r0);
                r1 = Math.max(r1, c.r1);
                c0 = Math.min(c0, c.c0);
                c1 = Math.max(c1, c.c1);
            }
            return new Chunk(r0, r1, c0, c1);
        }
    }

    /**
     * A kernel on CUDA device {@code device} (which the provider has probed), with the chunking of
     * the system properties {@code ringattn.cuda.queryChunk} and {@code ringattn.cuda.scoreBytes}.
     *
     * @throws ringattn.cuda.ffm.CudaException when a CUDA call fails (with the library's message)
     */
    public CublasKernel(KernelOptions options, int device) {
        this(options, device, Integer.getInteger("ringattn.cuda.queryChunk", 1024),
                Long.getLong("ringattn.cuda.scoreBytes", 256L << 20));
    }

    /**
     * A kernel on CUDA device {@code device} with explicit chunking: at most {@code maxQueryChunk}
     * query rows and {@code scoreBudgetBytes} of fp32 scores per chunk.
     */
    public CublasKernel(KernelOptions options, int device, int maxQueryChunk, long scoreBudgetBytes) {
        this(options, new CudaDeviceOps(device), device, maxQueryChunk, scoreBudgetBytes);
    }

    /** A kernel on any {@link DeviceOps} (the tests pass a CPU emulation); takes ownership of it. */
    CublasKernel(KernelOptions options, DeviceOps dev, int device, int maxQueryChunk, long scoreBudgetBytes) {
        if (maxQueryChunk < 1 || scoreBudgetBytes < 4) {
            dev.close();
            throw new IllegalArgumentException("chunking: maxQueryChunk " + maxQueryChunk + " and scoreBudgetBytes "
                    + scoreBudgetBytes + " must be positive");
        }
        this.options = options;
        this.dev = dev;
        this.device = device;
        this.name = "cublas " + dev.describe();
        this.maxQueryChunk = maxQueryChunk;
        this.scoreBudgetBytes = scoreBudgetBytes;
        this.args = new KernelArgs(arena);
        this.qRaw = new DeviceBuffer(dev, "Q upload");
        this.qWide = new DeviceBuffer(dev, "Q fp32");
        this.qDev = new DeviceBuffer(dev, "Q");
        this.qMeta = new DeviceBuffer(dev, "query positions");
        this.kDev = new DeviceBuffer(dev, "K");
        this.vDev = new DeviceBuffer(dev, "V");
        this.kWide = new DeviceBuffer(dev, "K fp32");
        this.vWide = new DeviceBuffer(dev, "V fp32");
        this.kMeta = new DeviceBuffer(dev, "key positions");
        this.accNatural = new DeviceBuffer(dev, "acc upload");
        this.accDev = new DeviceBuffer(dev, "acc");
        this.stats = new DeviceBuffer(dev, "rowMax/rowSum");
        this.scores = new DeviceBuffer(dev, "scores");
        this.scores2 = new DeviceBuffer(dev, "dP/dS");
        this.doRaw = new DeviceBuffer(dev, "dO upload");
        this.doDev = new DeviceBuffer(dev, "dO");
        this.lseDelta = new DeviceBuffer(dev, "lse/delta");
        this.gradK = new DeviceBuffer(dev, "dK");
        this.gradV = new DeviceBuffer(dev, "dV");
        this.pinnedQuery = new PinnedBuffer(dev);
        this.pinnedBlock = new PinnedBuffer(dev);
        this.pinnedState = new PinnedBuffer(dev);
    }

    @Override
    public String name() {
        return name;
    }

    /** The CUDA device ordinal. */
    public int device() {
        return device;
    }

    /** One host thread drives the device. */
    @Override
    public int threads() {
        return 1;
    }

    @Override
    public ForwardPass beginForward(Tensor q, Positions qPositions, AttentionSpec spec) {
        checkOpen();
        checkQueries(q, qPositions, spec);
        ForwardState state = new ForwardState(q, qPositions);
        return new ForwardPass() {
            private boolean done;

            @Override
            public void update(Tensor k, Tensor v, Positions kPositions) {
                live(done, state);
                forwardBlock(state, k, v, kPositions, spec);
            }

            @Override
            public void finish(Tensor out, MemorySegment lse) {
                live(done, state);
                state.finish(out, lse);
                done = true;
            }

            @Override
            public void close() {
                state.close();
            }
        };
    }

    @Override
    public BackwardPass beginBackward(Tensor q, Positions qPositions, Tensor out, Tensor dOut, MemorySegment lse,
                                      AttentionSpec spec) {
        checkOpen();
        checkQueries(q, qPositions, spec);
        BackwardState state = new BackwardState(q, out, dOut, lse, qPositions);
        return new BackwardPass() {
            private boolean done;
            private boolean closed;

            @Override
            public void update(Tensor k, Tensor v, Positions kPositions, Tensor dK, Tensor dV) {
                if (done || closed) {
                    throw new IllegalStateException("update: the backward pass is " + (closed ? "closed" : "finished"));
                }
                backwardBlock(state, k, v, kPositions, dK, dV, spec);
            }

            @Override
            public void finish(Tensor dq) {
                if (done || closed) {
                    throw new IllegalStateException("finish: the backward pass is " + (closed ? "closed" : "finished"));
                }
                state.finish(dq);
                done = true;
            }

            @Override
            public void close() {
                closed = true;
                state.close();
            }
        };
    }

    private synchronized void checkOpen() {
        if (closed) {
            throw new IllegalStateException(name + ": kernel is closed");
        }
    }

    private static void checkQueries(Tensor q, Positions qPositions, AttentionSpec spec) {
        if (q == null) {
            throw new IllegalArgumentException("q: must not be null");
        }
        q.checkOpen("q");
        if (spec == null) {
            throw new IllegalArgumentException("spec: must not be null");
        }
        if (qPositions == null || qPositions.size() != q.tokens()) {
            throw new IllegalArgumentException("qPositions: " + (qPositions == null ? "null" : qPositions.size())
                    + " positions for " + q.tokens() + " query tokens");
        }
    }

    private static void live(boolean done, ForwardState state) {
        if (done) {
            throw new IllegalStateException("the forward pass is finished");
        }
        if (!state.isOpen()) {
            throw new IllegalStateException("the forward pass is closed");
        }
    }

    private synchronized void forwardBlock(ForwardState state, Tensor k, Tensor v, Positions kPositions, AttentionSpec spec) {
        if (closed) {
            throw new IllegalStateException(name + ": kernel is closed");
        }
        if (state == null) {
            throw new IllegalArgumentException("state: must not be null");
        }
        Tensor q = state.q();
        int group = BlockArguments.checkBlock(q, k, v, kPositions, spec);
        if (k.tokens() == 0 || q.tokens() == 0) {
            return;
        }
        int[] qDocs = state.queryDocuments(spec);
        int[] kDocs = spec.documentsOf(kPositions);
        List<Chunk> chunks = plan(state.qPositions(), qDocs, kPositions, kDocs, spec, q.heads(), options.keyTile(),
                maxQueryChunk, scoreBudgetBytes);
        if (chunks.isEmpty()) {
            return; // every key of the block is hidden from every query: do not touch the state
        }
        Chunk all = Chunk.cover(chunks);
        dev.makeCurrent();
        boolean bf16 = q.dtype() == DType.BF16 && k.dtype() == DType.BF16;
        uploadQuery(state, q, state.qPositions(), spec, qDocs, group, bf16);
        Block block = uploadBlock(k, v, kPositions, kDocs, all.c0(), all.c1(), bf16);
        uploadState(state, all.r0(), all.r1(), group);
        for (Chunk c : chunks) {
            runChunk(state, spec, c, group, all.r0(), all.r1() - all.r0(), block);
        }
        downloadState(state, all.r0(), all.r1(), group);
    }

    /**
     * Splits the query rows into chunks of at most {@code maxRows} rows (and of at most
     * {@code scoreBudgetBytes} fp32 scores against the whole block) and gives each the smallest run
     * of key tiles ({@code keyTile} rows) that covers every tile not hidden from it; chunks that see
     * no tile are left out. Package-private for tests (no GPU needed).
     */
    static List<Chunk> plan(Positions qPos, int[] qDocs, Positions kPos, int[] kDocs, AttentionSpec spec,
                            int heads, int keyTile, int maxRows, long scoreBudgetBytes) {
        int rows = qPos.size();
        int keys = kPos.size();
        List<Chunk> out = new ArrayList<>();
        if (rows == 0 || keys == 0) {
            return out;
        }
        if (spec.classify(qPos.first(), qPos.last(), qDocs[0], qDocs[rows - 1],
                kPos.first(), kPos.last(), kDocs[0], kDocs[keys - 1]) == TileVisibility.HIDDEN) {
            return out;
        }
        long perRow = (long) heads * keys * 4;
        int chunkRows = (int) Math.max(1, Math.min(maxRows, scoreBudgetBytes / Math.max(1, perRow)));
        for (int r0 = 0; r0 < rows; r0 += chunkRows) {
            int r1 = Math.min(rows, r0 + chunkRows);
            if (spec.isUnmasked()) {
                out.add(new Chunk(r0, r1, 0, keys));
                continue;
            }
            int c0 = -1;
            int c1 = -1;
            for (int t0 = 0; t0 < keys; t0 += keyTile) {
                int t1 = Math.min(keys, t0 + keyTile);
                TileVisibility vis = spec.classify(qPos.get(r0), qPos.get(r1 - 1), qDocs[r0], qDocs[r1 - 1],
                        kPos.get(t0), kPos.get(t1 - 1), kDocs[t0], kDocs[t1 - 1]);
                if (vis != TileVisibility.HIDDEN) {
                    if (c0 < 0) {
                        c0 = t0;
                    }
                    c1 = t1;
                }
            }
            if (c0 >= 0) {
                out.add(new Chunk(r0, r1, c0, c1));
            }
        }
        return out;
    }

    /**
     * Puts Q (permuted to {@code [kvHeads, rows, group, headDim]}, BF16 or fp32) and the query
     * positions and documents on the device, unless they are already there for {@code owner} (a
     * forward or backward state, by identity). Returns true when Q itself was uploaded.
     */
    private boolean uploadQuery(Object owner, Tensor q, Positions qPositions, AttentionSpec spec, int[] qDocs,
                                int group, boolean bf16) {
        int rows = q.tokens();
        boolean sameQuery = queryOf.get() == owner && queryBf16 == bf16;
        if (sameQuery && spec.equals(queryDocsOf)) {
            return false;
        }
        long qBytes = q.segment().byteSize();
        long metaBytes = 8L * rows;
        long metaAt = align(qBytes);
        MemorySegment pin = pinnedQuery.ensure(metaAt + metaBytes);
        long dMeta = qMeta.ensure(metaBytes);
        int[] pos = qPositions.toArray();
        MemorySegment.copy(pos, 0, pin, ValueLayout.JAVA_INT, metaAt, rows);
        MemorySegment.copy(qDocs, 0, pin, ValueLayout.JAVA_INT, metaAt + 4L * rows, rows);
        dev.copyToDevice(dMeta, pin, metaAt, metaBytes);
        if (!sameQuery) {
            MemorySegment.copy(q.segment(), 0, pin, 0, qBytes);
            toDeviceLayout(q, pin, bf16, qRaw, qDev, group);
        }
        // The pinned buffer is read by the copies above: finish them before it can be reused.
        dev.synchronize();
        queryOf = new WeakReference<>(owner);
        queryBf16 = bf16;
        queryDocsOf = spec;
        return !sameQuery;
    }

    /**
     * Copies tensor {@code t} (already in {@code pin} at offset 0) to {@code raw} and permutes it into
     * {@code target} as {@code [kvHeads, rows, group, headDim]}, BF16 when {@code bf16} and t is
     * BF16, else fp32.
     */
    private void toDeviceLayout(Tensor t, MemorySegment pin, boolean bf16, DeviceBuffer raw, DeviceBuffer target,
                                int group) {
        int rows = t.tokens();
        int kvHeads = t.heads() / group;
        int inner = group * t.headDim();
        long bytes = t.segment().byteSize();
        long n = t.elementCount();
        long in = raw.ensure(bytes);
        dev.copyToDevice(in, pin, 0, bytes);
        if (t.dtype() == DType.F32) {
            swap(Ptx.SWAP01_B32, in, target.ensure(4 * n), rows, kvHeads, inner);
        } else if (bf16) {
            swap(Ptx.SWAP01_B16, in, target.ensure(2 * n), rows, kvHeads, inner);
        } else {
            long wide = qWide.ensure(4 * n);
            widen(in, wide, n);
            swap(Ptx.SWAP01_B32, wide, target.ensure(4 * n), rows, kvHeads, inner);
        }
    }

    /**
     * The key range {@code [c0, c0+keys)} of one block on the device: K (in the GEMM's type), V in
     * fp32, and the key positions followed by their documents ({@code meta}, ints).
     */
    private record Block(int c0, int keys, long k, int kType, long kElemBytes, long v, long meta) {
    }

    private Block uploadBlock(Tensor k, Tensor v, Positions kPositions, int[] kDocs, int cLo, int cHi, boolean bf16) {
        int keys = cHi - cLo;
        long rowBytes = k.tokenStrideBytes();
        long kvBytes = keys * rowBytes;
        long vAt = align(kvBytes);
        long metaAt = vAt + align(kvBytes);
        long metaBytes = 8L * keys;
        MemorySegment pin = pinnedBlock.ensure(metaAt + metaBytes);
        MemorySegment.copy(k.segment(), cLo * rowBytes, pin, 0, kvBytes);
        MemorySegment.copy(v.segment(), cLo * rowBytes, pin, vAt, kvBytes);
        int[] pos = kPositions.toArray();
        MemorySegment.copy(pos, cLo, pin, ValueLayout.JAVA_INT, metaAt, keys);
        MemorySegment.copy(kDocs, cLo, pin, ValueLayout.JAVA_INT, metaAt + 4L * keys, keys);
        long dk = kDev.ensure(kvBytes);
        long dv = vDev.ensure(kvBytes);
        long meta = kMeta.ensure(metaBytes);
        dev.copyToDevice(dk, pin, 0, kvBytes);
        dev.copyToDevice(dv, pin, vAt, kvBytes);
        dev.copyToDevice(meta, pin, metaAt, metaBytes);
        long n = (long) keys * k.heads() * k.headDim();
        long kGemm = dk;
        if (k.dtype() == DType.BF16 && !bf16) {
            kGemm = kWide.ensure(4 * n);
            widen(dk, kGemm, n);
        }
        long vGemm = dv;
        if (v.dtype() == DType.BF16) {
            vGemm = vWide.ensure(4 * n);
            widen(dv, vGemm, n);
        }
        return new Block(cLo, keys, kGemm, bf16 ? Cublas.R_16BF : Cublas.R_32F, bf16 ? 2 : 4, vGemm, meta);
    }

    private void uploadState(ForwardState state, int rLo, int rHi, int group) {
        Tensor q = state.q();
        int heads = q.heads();
        int d = q.headDim();
        long rowBytes = (long) heads * d * 4;
        long accBytes = (rHi - rLo) * rowBytes;
        long statBytes = align((long) heads * q.tokens() * 4);
        long mAt = align(accBytes);
        MemorySegment pin = pinnedState.ensure(mAt + 2 * statBytes);
        MemorySegment.copy(state.acc(), rLo * rowBytes, pin, 0, accBytes);
        MemorySegment.copy(state.rowMax(), 0, pin, mAt, (long) heads * q.tokens() * 4);
        MemorySegment.copy(state.rowSum(), 0, pin, mAt + statBytes, (long) heads * q.tokens() * 4);
        long nat = accNatural.ensure(accBytes);
        long st = stats.ensure(2 * statBytes);
        dev.copyToDevice(nat, pin, 0, accBytes);
        dev.copyToDevice(st, pin, mAt, 2 * statBytes);
        swap(Ptx.SWAP01_B32, nat, accDev.ensure(accBytes), rHi - rLo, heads / group, group * d);
    }

    private void runChunk(ForwardState state, AttentionSpec spec, Chunk c, int group, int accRow0, int accRows,
                          Block block) {
        Tensor q = state.q();
        int rows = q.tokens();
        int heads = q.heads();
        int kvHeads = heads / group;
        int d = q.headDim();
        int kvc = c.c1() - c.c0();
        int nq = (c.r1() - c.r0()) * group;
        int ld = kvHeads * d;
        long keyOffset = c.c0() - block.c0();
        long qElem = block.kElemBytes();
        long s = scores.ensure((long) kvHeads * nq * kvc * 4);
        // Per kv head g: column-major C[kvc × nq] = Kᵀ-op(K_g) · Q_g, i.e. row-major scores [nq][kvc].
        dev.gemm(Cublas.OP_T, Cublas.OP_N, kvc, nq, d, spec.scale(),
                block.k() + keyOffset * ld * block.kElemBytes(), block.kType(), ld, d,
                qDev.pointer() + (long) c.r0() * group * d * qElem, block.kType(), d, (long) rows * group * d,
                0f, s, kvc, (long) nq * kvc, kvHeads);
        long statBytes = align((long) heads * rows * 4);
        args.reset()
                .ptr(s).i32(kvc).i32(c.r1() - c.r0()).i32(group).i32(c.r0()).i32(rows)
                .ptr(qMeta.pointer()).ptr(qMeta.pointer() + 4L * rows)
                .ptr(block.meta() + 4 * keyOffset).ptr(block.meta() + 4L * block.keys() + 4 * keyOffset)
                .i32(spec.isUnmasked() ? 0 : 1).i32(spec.causal() ? 1 : 0).i32(spec.window())
                .ptr(stats.pointer()).ptr(stats.pointer() + statBytes)
                .ptr(accDev.pointer()).i32(accRow0).i32(accRows).i32(d);
        dev.launch(Ptx.ONLINE_SOFTMAX, kvHeads * nq, THREADS, args);
        // Per kv head g: column-major C[d × nq] += V_g-op · P, the accumulator rows in device layout.
        dev.gemm(Cublas.OP_N, Cublas.OP_N, d, nq, kvc, 1f,
                block.v() + keyOffset * ld * 4, Cublas.R_32F, ld, d,
                s, Cublas.R_32F, kvc, (long) nq * kvc,
                1f, accDev.pointer() + (long) (c.r0() - accRow0) * group * d * 4, d, (long) accRows * group * d,
                kvHeads);
    }

    private void downloadState(ForwardState state, int rLo, int rHi, int group) {
        Tensor q = state.q();
        int heads = q.heads();
        int d = q.headDim();
        long rowBytes = (long) heads * d * 4;
        long accBytes = (rHi - rLo) * rowBytes;
        long rawStat = (long) heads * q.tokens() * 4;
        long statBytes = align(rawStat);
        long mAt = align(accBytes);
        MemorySegment pin = pinnedState.ensure(mAt + 2 * statBytes);
        long nat = accNatural.pointer();
        swap(Ptx.SWAP01_B32, accDev.pointer(), nat, heads / group, rHi - rLo, group * d);
        dev.copyToHost(pin, 0, nat, accBytes);
        dev.copyToHost(pin, mAt, stats.pointer(), 2 * statBytes);
        dev.synchronize();
        MemorySegment.copy(pin, 0, state.acc(), rLo * rowBytes, accBytes);
        MemorySegment.copy(pin, mAt, state.rowMax(), 0, rawStat);
        MemorySegment.copy(pin, mAt + statBytes, state.rowSum(), 0, rawStat);
    }

    /** {@code [a, b, inner] → [b, a, inner]} on the stream. */
    private void swap(String entry, long in, long out, int a, int b, int inner) {
        long n = (long) a * b * inner;
        args.reset().ptr(in).ptr(out).i32(a).i32(b).i32(inner);
        dev.launch(entry, grid(n), THREADS, args);
    }

    /** BF16 → fp32 on the stream. */
    private void widen(long in, long out, long n) {
        args.reset().ptr(in).ptr(out).i64(n);
        dev.launch(Ptx.BF16_TO_F32, grid(n), THREADS, args);
    }

    private static int grid(long n) {
        return (int) Math.max(1, Math.min(65_535, (n + THREADS - 1) / THREADS));
    }

    private static long align(long bytes) {
        return (bytes + ALIGN - 1) / ALIGN * ALIGN;
    }

    /**
     * The backward of one K/V block on the GPU, in fp32 throughout (BF16 inputs are widened on the
     * device): per query chunk {@code S = scale·QKᵀ} and {@code dP = dO·Vᵀ} by cuBLAS, then
     * {@code P = exp(S − lse)} and {@code dS = P·(dP − delta)·scale} (masked by global position),
     * then {@code dV += Pᵀ·dO}, {@code dK += dSᵀ·Q}, {@code dQ += dS·K}. Q, dO, lse and delta stay on
     * the device while calls come with the same {@link BackwardState}; dQ (the rows that see the
     * block) and the block's rows of dK and dV go to the device and back at each call.
     */
    private synchronized void backwardBlock(BackwardState state, Tensor k, Tensor v, Positions kPositions, Tensor dK,
                                            Tensor dV, AttentionSpec spec) {
        if (closed) {
            throw new IllegalStateException(name + ": kernel is closed");
        }
        if (state == null) {
            throw new IllegalArgumentException("state: must not be null");
        }
        Tensor q = state.q();
        int group = BlockArguments.checkBlock(q, k, v, kPositions, spec);
        BlockArguments.checkGrad("dK", dK, k);
        BlockArguments.checkGrad("dV", dV, k);
        if (k.tokens() == 0 || q.tokens() == 0) {
            return;
        }
        int[] qDocs = state.queryDocuments(spec);
        int[] kDocs = spec.documentsOf(kPositions);
        List<Chunk> chunks = plan(state.qPositions(), qDocs, kPositions, kDocs, spec, q.heads(), options.keyTile(),
                maxQueryChunk, scoreBudgetBytes / 2);
        if (chunks.isEmpty()) {
            return;
        }
        Chunk all = Chunk.cover(chunks);
        dev.makeCurrent();
        if (uploadQuery(state, q, state.qPositions(), spec, qDocs, group, false)) {
            uploadBackwardRows(state, group);
        }
        Block block = uploadBlock(k, v, kPositions, kDocs, all.c0(), all.c1(), false);
        uploadGradients(state, dK, dV, all.r0(), all.r1(), all.c0(), all.c1(), group);
        for (Chunk c : chunks) {
            backwardChunk(state, spec, c, group, all.r0(), all.r1() - all.r0(), block);
        }
        downloadGradients(state, dK, dV, all.r0(), all.r1(), all.c0(), all.c1(), group);
    }

    /** dO (permuted like Q, fp32), lse and delta: once per backward state. */
    private void uploadBackwardRows(BackwardState state, int group) {
        Tensor dOut = state.dOut();
        int rows = dOut.tokens();
        long doBytes = dOut.segment().byteSize();
        long statBytes = (long) dOut.heads() * rows * 4;
        long lseAt = align(doBytes);
        long deltaAt = lseAt + align(statBytes);
        MemorySegment pin = pinnedQuery.ensure(deltaAt + statBytes);
        MemorySegment.copy(dOut.segment(), 0, pin, 0, doBytes);
        MemorySegment.copy(state.lse(), 0, pin, lseAt, statBytes);
        MemorySegment.copy(state.delta(), 0, pin, deltaAt, statBytes);
        toDeviceLayout(dOut, pin, false, doRaw, doDev, group);
        dev.copyToDevice(lseDelta.ensure(2 * align(statBytes)), pin, lseAt, 2 * align(statBytes));
        dev.synchronize();
    }

    private void uploadGradients(BackwardState state, Tensor dK, Tensor dV, int rLo, int rHi, int cLo, int cHi,
                                 int group) {
        Tensor q = state.q();
        long rowBytes = (long) q.heads() * q.headDim() * 4;
        long dqBytes = (rHi - rLo) * rowBytes;
        long kvRowBytes = dK.tokenStrideBytes();
        long kvBytes = (cHi - cLo) * kvRowBytes;
        long kAt = align(dqBytes);
        long vAt = kAt + align(kvBytes);
        MemorySegment pin = pinnedState.ensure(vAt + kvBytes);
        MemorySegment.copy(state.dQ(), rLo * rowBytes, pin, 0, dqBytes);
        MemorySegment.copy(dK.segment(), cLo * kvRowBytes, pin, kAt, kvBytes);
        MemorySegment.copy(dV.segment(), cLo * kvRowBytes, pin, vAt, kvBytes);
        long nat = accNatural.ensure(dqBytes);
        dev.copyToDevice(nat, pin, 0, dqBytes);
        dev.copyToDevice(gradK.ensure(kvBytes), pin, kAt, kvBytes);
        dev.copyToDevice(gradV.ensure(kvBytes), pin, vAt, kvBytes);
        swap(Ptx.SWAP01_B32, nat, accDev.ensure(dqBytes), rHi - rLo, q.heads() / group, group * q.headDim());
    }

    private void backwardChunk(BackwardState state, AttentionSpec spec, Chunk c, int group, int dqRow0, int dqRows,
                               Block block) {
        Tensor q = state.q();
        int rows = q.tokens();
        int heads = q.heads();
        int kvHeads = heads / group;
        int d = q.headDim();
        int kvc = c.c1() - c.c0();
        int nq = (c.r1() - c.r0()) * group;
        int ld = kvHeads * d;
        long keyOffset = c.c0() - block.c0();
        long kAt = block.k() + keyOffset * ld * 4;
        long vAt = block.v() + keyOffset * ld * 4;
        long qAt = qDev.pointer() + (long) c.r0() * group * d * 4;
        long doAt = doDev.pointer() + (long) c.r0() * group * d * 4;
        long qStride = (long) rows * group * d;
        long sStride = (long) nq * kvc;
        long p = scores.ensure((long) kvHeads * sStride * 4);
        long ds = scores2.ensure((long) kvHeads * sStride * 4);
        dev.gemm(Cublas.OP_T, Cublas.OP_N, kvc, nq, d, spec.scale(), kAt, Cublas.R_32F, ld, d,
                qAt, Cublas.R_32F, d, qStride, 0f, p, kvc, sStride, kvHeads);
        dev.gemm(Cublas.OP_T, Cublas.OP_N, kvc, nq, d, 1f, vAt, Cublas.R_32F, ld, d,
                doAt, Cublas.R_32F, d, qStride, 0f, ds, kvc, sStride, kvHeads);
        long statBytes = align((long) heads * rows * 4);
        args.reset()
                .ptr(p).ptr(ds).i32(kvc).i32(c.r1() - c.r0()).i32(group).i32(c.r0()).i32(rows)
                .ptr(qMeta.pointer()).ptr(qMeta.pointer() + 4L * rows)
                .ptr(block.meta() + 4 * keyOffset).ptr(block.meta() + 4L * block.keys() + 4 * keyOffset)
                .i32(spec.isUnmasked() ? 0 : 1).i32(spec.causal() ? 1 : 0).i32(spec.window())
                .ptr(lseDelta.pointer()).ptr(lseDelta.pointer() + statBytes).f32(spec.scale());
        dev.launch(Ptx.BACKWARD_SCORES, kvHeads * nq, THREADS, args);
        long gradOffset = keyOffset * ld * 4;
        // dV_g (column-major d × kvc, ld = kvHeads·d) += dO_g (d × nq) · P (nq × kvc)
        dev.gemm(Cublas.OP_N, Cublas.OP_T, d, kvc, nq, 1f, doAt, Cublas.R_32F, d, qStride,
                p, Cublas.R_32F, kvc, sStride, 1f, gradV.pointer() + gradOffset, ld, d, kvHeads);
        // dK_g += Q_g (d × nq) · dS (nq × kvc)
        dev.gemm(Cublas.OP_N, Cublas.OP_T, d, kvc, nq, 1f, qAt, Cublas.R_32F, d, qStride,
                ds, Cublas.R_32F, kvc, sStride, 1f, gradK.pointer() + gradOffset, ld, d, kvHeads);
        // dQ_g (d × nq) += K_g (d × kvc) · dSᵀ (kvc × nq)
        dev.gemm(Cublas.OP_N, Cublas.OP_N, d, nq, kvc, 1f, kAt, Cublas.R_32F, ld, d,
                ds, Cublas.R_32F, kvc, sStride,
                1f, accDev.pointer() + (long) (c.r0() - dqRow0) * group * d * 4, d, (long) dqRows * group * d,
                kvHeads);
    }

    private void downloadGradients(BackwardState state, Tensor dK, Tensor dV, int rLo, int rHi, int cLo, int cHi,
                                   int group) {
        Tensor q = state.q();
        long rowBytes = (long) q.heads() * q.headDim() * 4;
        long dqBytes = (rHi - rLo) * rowBytes;
        long kvRowBytes = dK.tokenStrideBytes();
        long kvBytes = (cHi - cLo) * kvRowBytes;
        long kAt = align(dqBytes);
        long vAt = kAt + align(kvBytes);
        MemorySegment pin = pinnedState.ensure(vAt + kvBytes);
        long nat = accNatural.pointer();
        swap(Ptx.SWAP01_B32, accDev.pointer(), nat, q.heads() / group, rHi - rLo, group * q.headDim());
        dev.copyToHost(pin, 0, nat, dqBytes);
        dev.copyToHost(pin, kAt, gradK.pointer(), kvBytes);
        dev.copyToHost(pin, vAt, gradV.pointer(), kvBytes);
        dev.synchronize();
        MemorySegment.copy(pin, 0, state.dQ(), rLo * rowBytes, dqBytes);
        MemorySegment.copy(pin, kAt, dK.segment(), cLo * kvRowBytes, kvBytes);
        MemorySegment.copy(pin, vAt, dV.segment(), cLo * kvRowBytes, kvBytes);
    }

    /** Frees device and pinned memory, the cuBLAS handle, the stream and the module. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        dev.makeCurrent();
        try {
            dev.synchronize();
        } finally {
            RuntimeException first = null;
            for (AutoCloseable c : new AutoCloseable[] {qRaw, qWide, qDev, qMeta, kDev, vDev, kWide, vWide, kMeta,
                    accNatural, accDev, stats, scores, scores2, doRaw, doDev, lseDelta, gradK, gradV, pinnedQuery, pinnedBlock, pinnedState, dev}) {
                try {
                    c.close();
                } catch (Exception e) {
                    first = first != null ? first : new IllegalStateException(name + ": close: " + e.getMessage(), e);
                }
            }
            arena.close();
            if (first != null) {
                throw first;
            }
        }
    }

    @Override
    public String toString() {
        return name;
    }
}
