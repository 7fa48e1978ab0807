package ringattn.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.ValueLayout;
import java.time.Duration;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import ringattn.cuda.check.GpuChecks;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.KernelOptions;
import ringattn.engine.kernel.Positions;
import ringattn.engine.reference.ReferenceAttention;
import ringattn.engine.ring.ForwardResult;
import ringattn.engine.ring.Gradients;
import ringattn.engine.ring.RingAttention;
import ringattn.engine.ring.RingOptions;
import ringattn.engine.ring.ShardLayout;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;
import ringattn.engine.transport.InJvmRing;

/**
 * The engine's ring (in-JVM ranks, each with its own CublasKernel on the CPU emulation) against the
 * fp64 reference, forward and backward: the kernel as the ring really calls it (zigzag shards with
 * non-contiguous positions, blocks arriving from other ranks, calls from the ranks' threads).
 */
class RingWithEmulatedKernelTest {
    @ParameterizedTest(name = "P={0} {1} causal={2} {3}")
    @CsvSource({"3, ZIGZAG, true, F32", "2, CONTIGUOUS, false, F32", "4, STRIPED, true, BF16"})
    void ringMatchesReference(int worldSize, String layout, boolean causal, String dtype) {
        int seqLen = 96;
        int heads = 4;
        int kvHeads = 2;
        int d = 32;
        DType type = DType.valueOf(dtype);
        AttentionSpec spec = AttentionSpec.of(d).withCausal(causal);
        RingOptions options = RingOptions.defaults(spec).withLayout(ShardLayout.valueOf(layout))
                .withTimeout(Duration.ofSeconds(60));
        try (Tensor q = GpuChecks.normal(1, seqLen, heads, d, type);
             Tensor k = GpuChecks.normal(2, seqLen, kvHeads, d, type);
             Tensor v = GpuChecks.normal(3, seqLen, kvHeads, d, type);
             Tensor dO = GpuChecks.normal(4, seqLen, heads, d, type);
             Tensor out = Tensor.allocate(seqLen, heads, d, DType.F32);
             Tensor dq = Tensor.allocate(seqLen, heads, d, DType.F32);
             Tensor dk = Tensor.allocate(seqLen, kvHeads, d, DType.F32);
             Tensor dv = Tensor.allocate(seqLen, kvHeads, d, DType.F32)) {
            float[] lse = new float[heads * seqLen];
            InJvmRing.run(worldSize, options.timeout(), transport -> {
                int rank = transport.rank();
                ShardLayout l = options.layout();
                try (CublasKernel kernel = new CublasKernel(KernelOptions.defaults(1).withTiles(16, 16),
                        new EmulatedDevice(), 0, 8, 1 << 20);
                     RingAttention ring = new RingAttention(transport, kernel, options);
                     Tensor qs = l.shard(q, rank, worldSize);
                     Tensor ks = l.shard(k, rank, worldSize);
                     Tensor vs = l.shard(v, rank, worldSize);
                     Tensor dos = l.shard(dO, rank, worldSize);
                     ForwardResult fwd = ring.forward(qs, ks, vs, seqLen);
                     Gradients g = ring.backward(qs, ks, vs, fwd, dos, seqLen)) {
                    try (Tensor o32 = fwd.out().copyAs(DType.F32);
                         Tensor dq32 = g.dq().copyAs(DType.F32);
                         Tensor dk32 = g.dk().copyAs(DType.F32);
                         Tensor dv32 = g.dv().copyAs(DType.F32)) {
                        l.unshard(o32, rank, worldSize, out);
                        l.unshard(dq32, rank, worldSize, dq);
                        l.unshard(dk32, rank, worldSize, dk);
                        l.unshard(dv32, rank, worldSize, dv);
                    }
                    Positions pos = ring.localPositions(seqLen);
                    for (int h = 0; h < heads; h++) {
                        for (int i = 0; i < pos.size(); i++) {
                            lse[h * seqLen + pos.get(i)] = fwd.lse(h, i);
                        }
                    }
                    return rank;
                }
            });
            ReferenceAttention.Result ref = ReferenceAttention.forward(q, k, v, spec);
            ReferenceAttention.Grads grads = ReferenceAttention.backward(q, k, v, dO, spec);
            // outputs in Q's dtype: BF16 rounding of O and of the gradients bounds the error there
            double tol = type == DType.BF16 ? 1e-2 : 2e-4;
            check("O", out, ref.out(), tol, false);
            double lseErr = 0;
            for (int h = 0; h < heads; h++) {
                for (int r = 0; r < seqLen; r++) {
                    lseErr = Math.max(lseErr, Math.abs(lse[h * seqLen + r] - ref.lse(h, r)));
                }
            }
            assertTrue(lseErr <= 2e-4, "LSE error " + lseErr);
            check("dQ", dq, grads.dq(), tol, true);
            check("dK", dk, grads.dk(), tol, true);
            check("dV", dv, grads.dv(), tol, true);
        }
    }

    private static void check(String what, Tensor t, double[] ref, double tol, boolean relative) {
        double scale = 1;
        if (relative) {
            scale = 0;
            for (double r : ref) {
                scale = Math.max(scale, Math.abs(r));
            }
        }
        double max = 0;
        for (long i = 0; i < t.elementCount(); i++) {
            double e = Math.abs(t.segment().getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i) - ref[(int) i]);
            max = Double.isNaN(e) ? Double.POSITIVE_INFINITY : Math.max(max, e);
        }
        System.out.println(what + ": max error " + max / scale + (relative ? " (relative)" : ""));
        assertTrue(max / scale <= tol, what + ": error " + max / scale + " > " + tol);
    }
}
