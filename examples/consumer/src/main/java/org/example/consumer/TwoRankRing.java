package org.example.consumer;

import java.time.Duration;
import java.util.List;
import ringattn.engine.device.Devices;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.KernelOptions;
import ringattn.engine.ring.ForwardResult;
import ringattn.engine.ring.RingAttention;
import ringattn.engine.ring.RingOptions;
import ringattn.engine.ring.ShardLayout;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;
import ringattn.engine.transport.InJvmRing;

/**
 * Builds its own global Q, K, V, runs causal attention on a 2-rank in-JVM ring (each rank holds
 * one zigzag shard) and gathers O. Everything here uses exported packages only.
 */
public final class TwoRankRing {
    private TwoRankRing() {
    }

    /** Global O {@code [S, heads, headDim]} F32 of causal attention over q, k, v; caller closes it. */
    public static Tensor causalAttention(Tensor q, Tensor k, Tensor v) {
        int seqLen = q.tokens();
        int ranks = 2;
        RingOptions options = RingOptions.defaults(AttentionSpec.of(q.headDim()).withCausal(true))
                .withTimeout(Duration.ofSeconds(30));
        ShardLayout layout = options.layout();
        Tensor out = Tensor.allocate(seqLen, q.heads(), q.headDim(), q.dtype());
        List<Integer> done = InJvmRing.run(ranks, options.timeout(), transport -> {
            int rank = transport.rank();
            try (BlockKernel kernel = Devices.select("cpu", KernelOptions.defaults(1)).kernel();
                 RingAttention ring = new RingAttention(transport, kernel, options);
                 Tensor qs = layout.shard(q, rank, ranks);
                 Tensor ks = layout.shard(k, rank, ranks);
                 Tensor vs = layout.shard(v, rank, ranks);
                 ForwardResult result = ring.forward(qs, ks, vs, seqLen)) {
                layout.unshard(result.out(), rank, ranks, out); // ranks write disjoint rows
                return rank;
            }
        });
        if (done.size() != ranks) {
            throw new IllegalStateException("expected " + ranks + " ranks, got " + done);
        }
        return out;
    }

    /** Runs a small example and prints O[0, 0, 0..3]. */
    public static void main(String[] args) {
        int seqLen = 100;
        try (Tensor q = Tensor.allocate(seqLen, 4, 32, DType.F32);
             Tensor k = Tensor.allocate(seqLen, 2, 32, DType.F32);
             Tensor v = Tensor.allocate(seqLen, 2, 32, DType.F32)) {
            java.util.Random rnd = new java.util.Random(42);
            for (Tensor t : new Tensor[] {q, k, v}) {
                for (long i = 0; i < t.elementCount(); i++) {
                    t.setFlat(i, (float) rnd.nextGaussian());
                }
            }
            try (Tensor out = causalAttention(q, k, v)) {
                System.out.printf("O[0,0,0..3] = %.5f %.5f %.5f %.5f%n",
                        out.get(0, 0, 0), out.get(0, 0, 1), out.get(0, 0, 2), out.get(0, 0, 3));
            }
        }
    }
}
