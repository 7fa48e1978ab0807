package ringattn.cuda;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import ringattn.cuda.ffm.Cublas;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.BackwardPass;
import ringattn.engine.kernel.BackwardState;
import ringattn.engine.kernel.BlockArguments;
import ringattn.engine.kernel.Positions;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/**
 * A backward pass of {@link CublasKernel}, in fp32 throughout (BF16 inputs are widened on the
 * device). At begin D = rowsum(dO∘O) is formed on the host ({@link BackwardState}) and Q, dO, LSE, D
 * and the query positions go to the device, where they stay with the fp32 dQ accumulator until
 * finish brings dQ down once. Per update, per query chunk: {@code S = scale·QKᵀ} and
 * {@code dP = dO·Vᵀ} by cuBLAS, then {@code P = exp(S − lse)} and {@code dS = P·(dP − D)·scale}
 * (masked by global position), then {@code dV += Pᵀ·dO}, {@code dK += dSᵀ·Q}, {@code dQ += dS·K}; the
 * block's rows of the caller's dK and dV go up before and come back after. Calls lock the kernel.
 */
final class CublasBackward extends CublasPass implements BackwardPass {
    private final Tensor q;
    private final Positions qPositions;
    private final Tensor out;
    private final Tensor dOut;
    private final MemorySegment lse;
    private final AttentionSpec spec;
    private final int[] qDocs;
    /** fp32 Q as {@code [kvHeads, rows, group, headDim]}. */
    private final DeviceBuffer query;
    /** fp32 dO, laid out like {@link #query}. */
    private final DeviceBuffer gradOut;
    /** Query positions, then documents (int32, rows each). */
    private final DeviceBuffer meta;
    /** fp32 LSE {@code [heads, rows]}, then D at {@link #deltaOffset}. */
    private final DeviceBuffer lseDelta;
    /** fp32 dQ, laid out like {@link #query}. */
    private final DeviceBuffer dq;
    private final long deltaOffset;
    private int group = 1;

    CublasBackward(CublasKernel kernel, Tensor q, Positions qPositions, Tensor out, Tensor dOut, MemorySegment lse,
                   AttentionSpec spec) {
        super(kernel, "backward");
        this.q = q;
        this.qPositions = qPositions;
        this.out = out;
        this.dOut = dOut;
        this.lse = lse;
        this.spec = spec;
        this.qDocs = spec.documentsOf(qPositions);
        this.query = buffer("Q");
        this.gradOut = buffer("dO");
        this.meta = buffer("query positions");
        this.lseDelta = buffer("lse/delta");
        this.dq = buffer("dQ");
        this.deltaOffset = CublasKernel.align(4L * q.heads() * q.tokens());
    }

    /** Checks O, dO and LSE and forms D (through {@link BackwardState}), then puts the rows on the device. */
    @Override
    void upload() {
        try (BackwardState host = new BackwardState(q, out, dOut, lse, qPositions)) {
            int rows = q.tokens();
            if (rows == 0) {
                return;
            }
            long statBytes = 4L * q.heads() * rows;
            long qBytes = q.segment().byteSize();
            long doAt = CublasKernel.align(qBytes);
            long metaAt = doAt + CublasKernel.align(dOut.segment().byteSize());
            long lseAt = metaAt + CublasKernel.align(8L * rows);
            MemorySegment pin = kernel.stageRows(lseAt + deltaOffset + statBytes);
            MemorySegment.copy(q.segment(), 0, pin, 0, qBytes);
            MemorySegment.copy(dOut.segment(), 0, pin, doAt, dOut.segment().byteSize());
            MemorySegment.copy(qPositions.toArray(), 0, pin, ValueLayout.JAVA_INT, metaAt, rows);
            MemorySegment.copy(qDocs, 0, pin, ValueLayout.JAVA_INT, metaAt + 4L * rows, rows);
            MemorySegment.copy(host.lse(), 0, pin, lseAt, statBytes);
            MemorySegment.copy(host.delta(), 0, pin, lseAt + deltaOffset, statBytes);
            kernel.uploadRows(q, pin, 0, false, query);
            kernel.uploadRows(dOut, pin, doAt, false, gradOut);
            dev.copyToDevice(meta.ensure(8L * rows), pin, metaAt, 8L * rows);
            dev.copyToDevice(lseDelta.ensure(deltaOffset + statBytes), pin, lseAt, deltaOffset + statBytes);
            long dqBytes = 4 * q.elementCount();
            dev.zero(dq.ensure(dqBytes), dqBytes);
            dev.synchronize();
        }
    }

    @Override
    public void update(Tensor k, Tensor v, Positions kPositions, Tensor dK, Tensor dV) {
        synchronized (kernel) {
            checkLive("update");
            int g = BlockArguments.checkBlock(q, k, v, kPositions, spec);
            BlockArguments.checkGrad("dK", dK, k);
            BlockArguments.checkGrad("dV", dV, k);
            if (k.tokens() == 0 || q.tokens() == 0) {
                return;
            }
            int[] kDocs = spec.documentsOf(kPositions);
            List<CublasKernel.Chunk> chunks = kernel.chunks(qPositions, qDocs, kPositions, kDocs, spec, q.heads(),
                    kernel.scoreBudgetBytes / 2);
            if (chunks.isEmpty()) {
                return; // hidden from every query: do not touch the device
            }
            CublasKernel.Chunk all = CublasKernel.Chunk.cover(chunks);
            dev.makeCurrent();
            regroup(g);
            CublasKernel.Block block = kernel.uploadBlock(k, v, kPositions, kDocs, all.c0(), all.c1(), false);
            kernel.uploadGradients(dK, dV, all.c0(), all.c1());
            for (CublasKernel.Chunk c : chunks) {
                runChunk(c, block);
            }
            kernel.downloadGradients(dK, dV, all.c0(), all.c1());
        }
    }

    /** Lays Q, dO and dQ out for {@code g} query heads per K/V head, if they are not. */
    private void regroup(int g) {
        if (g != group) {
            for (DeviceBuffer b : new DeviceBuffer[] {query, gradOut, dq}) {
                kernel.regroup(b.pointer(), 4, q.tokens(), q.heads(), q.headDim(), group, g);
            }
            group = g;
        }
    }

    private void runChunk(CublasKernel.Chunk c, CublasKernel.Block block) {
        int rows = q.tokens();
        int kvHeads = q.heads() / group;
        int d = q.headDim();
        int kvc = c.c1() - c.c0();
        int nq = (c.r1() - c.r0()) * group;
        int ld = kvHeads * d;
        long keyOffset = c.c0() - block.c0();
        long kAt = block.k() + keyOffset * ld * 4;
        long vAt = block.v() + keyOffset * ld * 4;
        long qAt = query.pointer() + (long) c.r0() * group * d * 4;
        long doAt = gradOut.pointer() + (long) c.r0() * group * d * 4;
        long qStride = (long) rows * group * d;
        long sStride = (long) nq * kvc;
        long p = kernel.scores.ensure((long) kvHeads * sStride * 4);
        long ds = kernel.scores2.ensure((long) kvHeads * sStride * 4);
        dev.gemm(Cublas.OP_T, Cublas.OP_N, kvc, nq, d, spec.scale(), kAt, Cublas.R_32F, ld, d,
                qAt, Cublas.R_32F, d, qStride, 0f, p, kvc, sStride, kvHeads);
        dev.gemm(Cublas.OP_T, Cublas.OP_N, kvc, nq, d, 1f, vAt, Cublas.R_32F, ld, d,
                doAt, Cublas.R_32F, d, qStride, 0f, ds, kvc, sStride, kvHeads);
        kernel.args.reset()
                .ptr(p).ptr(ds).i32(kvc).i32(c.r1() - c.r0()).i32(group).i32(c.r0()).i32(rows)
                .ptr(meta.pointer()).ptr(meta.pointer() + 4L * rows)
                .ptr(block.meta() + 4 * keyOffset).ptr(block.meta() + 4L * block.keys() + 4 * keyOffset)
                .i32(spec.isUnmasked() ? 0 : 1).i32(spec.causal() ? 1 : 0).i32(spec.window())
                .ptr(lseDelta.pointer()).ptr(lseDelta.pointer() + deltaOffset).f32(spec.scale());
        dev.launch(Ptx.BACKWARD_SCORES, kvHeads * nq, CublasKernel.THREADS, kernel.args);
        long gradOffset = keyOffset * ld * 4;
        // dV_g (column-major d × kvc, ld = kvHeads·d) += dO_g (d × nq) · P (nq × kvc)
        dev.gemm(Cublas.OP_N, Cublas.OP_T, d, kvc, nq, 1f, doAt, Cublas.R_32F, d, qStride,
                p, Cublas.R_32F, kvc, sStride, 1f, kernel.gradV.pointer() + gradOffset, ld, d, kvHeads);
        // dK_g += Q_g (d × nq) · dS (nq × kvc)
        dev.gemm(Cublas.OP_N, Cublas.OP_T, d, kvc, nq, 1f, qAt, Cublas.R_32F, d, qStride,
                ds, Cublas.R_32F, kvc, sStride, 1f, kernel.gradK.pointer() + gradOffset, ld, d, kvHeads);
        // dQ_g (d × nq) += K_g (d × kvc) · dSᵀ (kvc × nq)
        dev.gemm(Cublas.OP_N, Cublas.OP_N, d, nq, kvc, 1f, kAt, Cublas.R_32F, ld, d,
                ds, Cublas.R_32F, kvc, sStride,
                1f, dq.pointer() + (long) c.r0() * group * d * 4, d, qStride, kvHeads);
    }

    /** Brings dQ down (the one download of the pass) and writes it into {@code target} in its dtype. */
    @Override
    public void finish(Tensor target) {
        synchronized (kernel) {
            checkLive("finish");
            BlockArguments.checkLikeQueries("dq", target, q);
            markFinished();
            try {
                if (q.tokens() > 0) {
                    long n = q.elementCount();
                    MemorySegment pin = kernel.stageRows(4 * n);
                    dev.makeCurrent();
                    kernel.downloadRows(dq.pointer(), q.tokens(), q.heads(), q.headDim(), group, pin);
                    dev.synchronize();
                    if (target.dtype() == DType.F32) {
                        MemorySegment.copy(pin, 0, target.segment(), 0, 4 * n);
                    } else {
                        for (long i = 0; i < n; i++) {
                            target.setFlat(i, pin.getAtIndex(ValueLayout.JAVA_FLOAT, i));
                        }
                    }
                }
            } finally {
                dev.makeCurrent();
                release();
            }
        }
    }
}
