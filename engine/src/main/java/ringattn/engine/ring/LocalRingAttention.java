package ringattn.engine.ring;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import ringattn.engine.device.Devices;
import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.KernelOptions;
import ringattn.engine.kernel.Positions;
import ringattn.engine.tensor.Tensor;
import ringattn.engine.transport.InJvmRing;

/**
 * Ring attention over global tensors with P ranks as threads of this JVM: shards the inputs in the
 * options' layout, runs every rank's {@link RingAttention} over an {@link InJvmRing}, and gathers the
 * shards of the results back into global tensors. For a library user on one machine, for tests, and
 * for the command's {@code --transport local}.
 */
public final class LocalRingAttention {
    private LocalRingAttention() {
    }

    /**
     * Global results. Owns its tensors and the LSE ({@code [heads, S]} fp32); close it.
     *
     * @param out            O {@code [S, heads, headDim]} in Q's dtype
     * @param lse            fp32 {@code [heads, S]}
     * @param dq             null unless a gradient of O was given; likewise dk, dv
     * @param forwardStats   per rank
     * @param backwardStats  per rank (empty without backward)
     * @param forwardNanos   wall time of the forward pass (all ranks), nanoseconds
     * @param backwardNanos  wall time of the backward pass, nanoseconds (0 without)
     */
    public record Result(Tensor out, MemorySegment lse, Tensor dq, Tensor dk, Tensor dv,
                         List<RingStats> forwardStats, List<RingStats> backwardStats,
                         long forwardNanos, long backwardNanos, Arena arena) implements AutoCloseable {
        public float lse(int head, int token) {
            return lse.getAtIndex(ValueLayout.JAVA_FLOAT, (long) head * out.tokens() + token);
        }

        @Override
        public void close() {
            out.close();
            if (dq != null) {
                dq.close();
                dk.close();
                dv.close();
            }
            if (arena.scope().isAlive()) {
                arena.close();
            }
        }
    }

    /**
     * Runs the forward (and, when {@code dOut} is not null, the backward) on {@code worldSize}
     * in-JVM ranks, each with its own kernel of {@code kernelOptions}.
     */
    public static Result run(Tensor q, Tensor k, Tensor v, Tensor dOut, int worldSize, RingOptions options,
                             KernelOptions kernelOptions) {
        int seqLen = q.tokens();
        if (k.tokens() != seqLen || v.tokens() != seqLen) {
            throw new IllegalArgumentException("k/v: " + k.tokens() + "/" + v.tokens() + " tokens, q has " + seqLen);
        }
        if (worldSize < 1) {
            throw new IllegalArgumentException("worldSize: must be >= 1, got " + worldSize);
        }
        record RankOut(RingStats fwd, RingStats bwd, long fwdStart, long fwdEnd, long bwdStart, long bwdEnd) {
        }
        Arena arena = Arena.ofShared();
        Tensor out = Tensor.allocate(seqLen, q.heads(), q.headDim(), q.dtype());
        MemorySegment lse = arena.allocate(Math.max(4, (long) seqLen * q.heads() * 4), 64);
        Tensor dq = dOut == null ? null : Tensor.allocate(seqLen, q.heads(), q.headDim(), q.dtype());
        Tensor dk = dOut == null ? null : Tensor.allocate(seqLen, k.heads(), k.headDim(), k.dtype());
        Tensor dv = dOut == null ? null : Tensor.allocate(seqLen, v.heads(), v.headDim(), v.dtype());
        List<RankOut> parts;
        try {
            // Ranks write disjoint rows of the global outputs.
            parts = InJvmRing.run(worldSize, options.timeout(), transport -> {
                int rank = transport.rank();
                ShardLayout layout = options.layout();
                try (BlockKernel kernel = Devices.select("cpu", kernelOptions).kernel();
                     RingAttention ring = new RingAttention(transport, kernel, options);
                     Tensor qs = layout.shard(q, rank, worldSize);
                     Tensor ks = layout.shard(k, rank, worldSize);
                     Tensor vs = layout.shard(v, rank, worldSize);
                     Tensor dos = dOut == null ? null : layout.shard(dOut, rank, worldSize)) {
                    transport.barrier(options.timeout());
                    long f0 = System.nanoTime();
                    try (ForwardResult fwd = ring.forward(qs, ks, vs, seqLen)) {
                        long f1 = System.nanoTime();
                        layout.unshard(fwd.out(), rank, worldSize, out);
                        Positions pos = ring.localPositions(seqLen);
                        for (int h = 0; h < q.heads(); h++) {
                            for (int i = 0; i < pos.size(); i++) {
                                lse.setAtIndex(ValueLayout.JAVA_FLOAT, (long) h * seqLen + pos.get(i), fwd.lse(h, i));
                            }
                        }
                        if (dos == null) {
                            return new RankOut(fwd.stats(), null, f0, f1, 0, 0);
                        }
                        transport.barrier(options.timeout());
                        long b0 = System.nanoTime();
                        try (Gradients g = ring.backward(qs, ks, vs, fwd, dos, seqLen)) {
                            long b1 = System.nanoTime();
                            layout.unshard(g.dq(), rank, worldSize, dq);
                            layout.unshard(g.dk(), rank, worldSize, dk);
                            layout.unshard(g.dv(), rank, worldSize, dv);
                            return new RankOut(fwd.stats(), g.stats(), f0, f1, b0, b1);
                        }
                    }
                }
            });
        } catch (RuntimeException | Error e) {
            out.close();
            if (dq != null) {
                dq.close();
                dk.close();
                dv.close();
            }
            arena.close();
            throw e;
        }
        List<RingStats> fwdStats = new ArrayList<>();
        List<RingStats> bwdStats = new ArrayList<>();
        long fStart = Long.MAX_VALUE;
        long fEnd = 0;
        long bStart = Long.MAX_VALUE;
        long bEnd = 0;
        for (RankOut p : parts) {
            fwdStats.add(p.fwd());
            fStart = Math.min(fStart, p.fwdStart());
            fEnd = Math.max(fEnd, p.fwdEnd());
            if (p.bwd() != null) {
                bwdStats.add(p.bwd());
                bStart = Math.min(bStart, p.bwdStart());
                bEnd = Math.max(bEnd, p.bwdEnd());
            }
        }
        return new Result(out, lse, dq, dk, dv, fwdStats, bwdStats, fEnd - fStart,
                dOut == null ? 0 : bEnd - bStart, arena);
    }
}
