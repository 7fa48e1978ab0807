package ringattn.cuda;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import ringattn.cuda.ffm.Cublas;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.BlockArguments;
import ringattn.engine.kernel.ForwardPass;
import ringattn.engine.kernel.ForwardState;
import ringattn.engine.kernel.Positions;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/**
 * A forward pass of {@link CublasKernel}. From begin to finish the device holds Q (in Q's dtype,
 * BF16 or fp32), the query positions and documents, the unnormalised fp32 accumulator and
 * {@code rowMax}/{@code rowSum} ({@code [heads, rows]} each); an update moves only its K/V block, and
 * finish brings the state down once and writes O and LSE as {@link ForwardState#finish} does.
 * Calls lock the kernel.
 */
final class CublasForward extends CublasPass implements ForwardPass {
    private final Tensor q;
    private final Positions qPositions;
    private final AttentionSpec spec;
    private final int[] qDocs;
    /** Q as {@code [kvHeads, rows, group, headDim]}, in Q's dtype. */
    private final DeviceBuffer query;
    /** A BF16 Q widened to fp32 in the same layout, for blocks whose K is F32 (made when first needed). */
    private final DeviceBuffer queryF32;
    /** Query positions, then documents (int32, rows each). */
    private final DeviceBuffer meta;
    /** fp32 {@code [kvHeads, rows, group, headDim]}. */
    private final DeviceBuffer acc;
    /** fp32 rowMax {@code [heads, rows]}, then rowSum at {@link #sumOffset}. */
    private final DeviceBuffer stats;
    private final long sumOffset;
    private int queryBytes;
    private int group = 1;
    private boolean wideCurrent;

    CublasForward(CublasKernel kernel, Tensor q, Positions qPositions, AttentionSpec spec) {
        super(kernel, "forward");
        this.q = q;
        this.qPositions = qPositions;
        this.spec = spec;
        this.qDocs = spec.documentsOf(qPositions);
        this.query = buffer("Q");
        this.queryF32 = buffer("Q fp32");
        this.meta = buffer("query positions");
        this.acc = buffer("acc");
        this.stats = buffer("rowMax/rowSum");
        this.sumOffset = CublasKernel.align(4L * q.heads() * q.tokens());
    }

    @Override
    void upload() {
        int rows = q.tokens();
        if (rows == 0) {
            return;
        }
        long statBytes = 4L * q.heads() * rows;
        long qBytes = q.segment().byteSize();
        long metaAt = CublasKernel.align(qBytes);
        long statAt = metaAt + CublasKernel.align(8L * rows);
        MemorySegment pin = kernel.stageRows(statAt + sumOffset + statBytes);
        MemorySegment.copy(q.segment(), 0, pin, 0, qBytes);
        MemorySegment.copy(qPositions.toArray(), 0, pin, ValueLayout.JAVA_INT, metaAt, rows);
        MemorySegment.copy(qDocs, 0, pin, ValueLayout.JAVA_INT, metaAt + 4L * rows, rows);
        MemorySegment max = pin.asSlice(statAt, statBytes);
        for (long i = 0; i < statBytes / 4; i++) {
            max.setAtIndex(ValueLayout.JAVA_FLOAT, i, Float.NEGATIVE_INFINITY);
        }
        pin.asSlice(statAt + sumOffset, statBytes).fill((byte) 0);
        queryBytes = kernel.uploadRows(q, pin, 0, true, query);
        dev.copyToDevice(meta.ensure(8L * rows), pin, metaAt, 8L * rows);
        dev.copyToDevice(stats.ensure(sumOffset + statBytes), pin, statAt, sumOffset + statBytes);
        long accBytes = 4 * q.elementCount();
        dev.zero(acc.ensure(accBytes), accBytes);
        dev.synchronize();
    }

    @Override
    public void update(Tensor k, Tensor v, Positions kPositions) {
        synchronized (kernel) {
            checkLive("update");
            int g = BlockArguments.checkBlock(q, k, v, kPositions, spec);
            if (k.tokens() == 0 || q.tokens() == 0) {
                return;
            }
            int[] kDocs = spec.documentsOf(kPositions);
            List<CublasKernel.Chunk> chunks = kernel.chunks(qPositions, qDocs, kPositions, kDocs, spec, q.heads(),
                    kernel.scoreBudgetBytes);
            if (chunks.isEmpty()) {
                return; // every key of the block is hidden from every query: do not touch the device
            }
            CublasKernel.Chunk all = CublasKernel.Chunk.cover(chunks);
            dev.makeCurrent();
            regroup(g);
            boolean bf16 = q.dtype() == DType.BF16 && k.dtype() == DType.BF16;
            CublasKernel.Block block = kernel.uploadBlock(k, v, kPositions, kDocs, all.c0(), all.c1(), bf16);
            long qAt = bf16 || q.dtype() == DType.F32 ? query.pointer() : wideQuery();
            for (CublasKernel.Chunk c : chunks) {
                runChunk(c, block, qAt);
            }
            dev.synchronize();
        }
    }

    /** Lays Q and the accumulator out for {@code g} query heads per K/V head, if they are not. */
    private void regroup(int g) {
        if (g != group) {
            kernel.regroup(query.pointer(), queryBytes, q.tokens(), q.heads(), q.headDim(), group, g);
            kernel.regroup(acc.pointer(), 4, q.tokens(), q.heads(), q.headDim(), group, g);
            group = g;
            wideCurrent = false;
        }
    }

    /** The BF16 Q widened to fp32 in the current layout. */
    private long wideQuery() {
        long n = q.elementCount();
        long p = queryF32.ensure(4 * n);
        if (!wideCurrent) {
            kernel.widen(query.pointer(), p, n);
            wideCurrent = true;
        }
        return p;
    }

    private void runChunk(CublasKernel.Chunk c, CublasKernel.Block block, long qAt) {
        int rows = q.tokens();
        int kvHeads = q.heads() / group;
        int d = q.headDim();
        int kvc = c.c1() - c.c0();
        int nq = (c.r1() - c.r0()) * group;
        int ld = kvHeads * d;
        long keyOffset = c.c0() - block.c0();
        long s = kernel.scores.ensure((long) kvHeads * nq * kvc * 4);
        // Per kv head g: column-major C[kvc × nq] = Kᵀ-op(K_g) · Q_g, i.e. row-major scores [nq][kvc].
        dev.gemm(Cublas.OP_T, Cublas.OP_N, kvc, nq, d, spec.scale(),
                block.k() + keyOffset * ld * block.kElemBytes(), block.kType(), ld, d,
                qAt + (long) c.r0() * group * d * block.kElemBytes(), block.kType(), d, (long) rows * group * d,
                0f, s, kvc, (long) nq * kvc, kvHeads);
        kernel.args.reset()
                .ptr(s).i32(kvc).i32(c.r1() - c.r0()).i32(group).i32(c.r0()).i32(rows)
                .ptr(meta.pointer()).ptr(meta.pointer() + 4L * rows)
                .ptr(block.meta() + 4 * keyOffset).ptr(block.meta() + 4L * block.keys() + 4 * keyOffset)
                .i32(spec.isUnmasked() ? 0 : 1).i32(spec.causal() ? 1 : 0).i32(spec.window())
                .ptr(stats.pointer()).ptr(stats.pointer() + sumOffset)
                .ptr(acc.pointer()).i32(0).i32(rows).i32(d);
        dev.launch(Ptx.ONLINE_SOFTMAX, kvHeads * nq, CublasKernel.THREADS, kernel.args);
        // Per kv head g: column-major C[d × nq] += V_g-op · P, the accumulator rows in device layout.
        dev.gemm(Cublas.OP_N, Cublas.OP_N, d, nq, kvc, 1f,
                block.v() + keyOffset * ld * 4, Cublas.R_32F, ld, d,
                s, Cublas.R_32F, kvc, (long) nq * kvc,
                1f, acc.pointer() + (long) c.r0() * group * d * 4, d, (long) rows * group * d,
                kvHeads);
    }

    @Override
    public void finish(Tensor out, MemorySegment lse) {
        synchronized (kernel) {
            checkLive("finish");
            BlockArguments.checkLikeQueries("out", out, q);
            BlockArguments.checkLse(lse, q);
            markFinished();
            try (ForwardState host = new ForwardState(q, qPositions)) {
                download(host);
                host.finish(out, lse);
            } finally {
                dev.makeCurrent();
                release();
            }
        }
    }

    /** The accumulator (in natural layout) and rowMax/rowSum into {@code host}: the one download of the pass. */
    private void download(ForwardState host) {
        int rows = q.tokens();
        if (rows == 0) {
            return;
        }
        long accBytes = 4 * q.elementCount();
        long statBytes = 4L * q.heads() * rows;
        long maxAt = CublasKernel.align(accBytes);
        long sumAt = maxAt + CublasKernel.align(statBytes);
        MemorySegment pin = kernel.stageRows(sumAt + statBytes);
        dev.makeCurrent();
        kernel.downloadRows(acc.pointer(), rows, q.heads(), q.headDim(), group, pin);
        dev.copyToHost(pin, maxAt, stats.pointer(), statBytes);
        dev.copyToHost(pin, sumAt, stats.pointer() + sumOffset, statBytes);
        dev.synchronize();
        MemorySegment.copy(pin, 0, host.acc(), 0, accBytes);
        MemorySegment.copy(pin, maxAt, host.rowMax(), 0, statBytes);
        MemorySegment.copy(pin, sumAt, host.rowSum(), 0, statBytes);
    }
}
