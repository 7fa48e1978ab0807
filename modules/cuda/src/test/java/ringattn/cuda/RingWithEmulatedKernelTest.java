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
            double lseErr = 0;
            for (int h = 0; h < heads; h++) {
                for (int r = 0; r < seqLen; r++) {
                    lseErr = Math.max(lseErr, Math.abs(lse[h * seqLen + r] - ref.lse(h, r)));
                }
            }
            assertTrue(lseErr <= GpuChecks.TOLERANCE, "LSE error " + lseErr); // fp32 in every dtype
            if (type == DType.BF16) {
                // Outputs in Q's dtype: each is an fp32 result rounded once to BF16. The backward forms
                // D = rowsum(dO∘O) from the O the forward stored (BF16), so its fp64 reference does too.
                Bf16Ulps.assertWithinOneUlp("O", out, ref.out(), GpuChecks.TOLERANCE);
                ReferenceAttention.Grads stored = gradientsFromStoredOutput(q, k, v, dO, out, spec);
                assertGradientsAgree(gradientsFromStoredOutput(q, k, v, dO, ref.out(), spec), grads);
                Bf16Ulps.assertWithinOneUlp("dQ", dq, stored.dq(), GpuChecks.GRAD_TOLERANCE * Bf16Ulps.maxAbs(stored.dq()));
                Bf16Ulps.assertWithinOneUlp("dK", dk, stored.dk(), GpuChecks.GRAD_TOLERANCE * Bf16Ulps.maxAbs(stored.dk()));
                Bf16Ulps.assertWithinOneUlp("dV", dv, stored.dv(), GpuChecks.GRAD_TOLERANCE * Bf16Ulps.maxAbs(stored.dv()));
            } else {
                check("O", out, ref.out(), GpuChecks.TOLERANCE, false);
                check("dQ", dq, grads.dq(), GpuChecks.GRAD_TOLERANCE, true);
                check("dK", dk, grads.dk(), GpuChecks.GRAD_TOLERANCE, true);
                check("dV", dv, grads.dv(), GpuChecks.GRAD_TOLERANCE, true);
            }
        }
    }

    /**
     * The fp64 gradients of self-attention over positions 0…S−1 (causal or not, no other mask) with
     * D = rowsum(dO∘O) formed from {@code o} (the BF16 output as the forward stored it, or the exact one),
     * not from the exact output: what the backward of a BF16 ring computes, exactly.
     */
    static ReferenceAttention.Grads gradientsFromStoredOutput(Tensor q, Tensor k, Tensor v, Tensor dO, Object o,
                                                              AttentionSpec spec) {
        int n = q.tokens();
        int heads = q.heads();
        int kvHeads = k.heads();
        int d = q.headDim();
        double scale = spec.scale();
        double[] dq = new double[n * heads * d];
        double[] dk = new double[n * kvHeads * d];
        double[] dv = new double[n * kvHeads * d];
        double[] p = new double[n];
        for (int h = 0; h < heads; h++) {
            int g = h / (heads / kvHeads);
            for (int i = 0; i < n; i++) {
                int last = spec.causal() ? i : n - 1;
                int qi = (i * heads + h) * d;
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j <= last; j++) {
                    double dot = 0;
                    for (int c = 0; c < d; c++) {
                        dot += (double) q.getFlat(qi + c) * k.getFlat((long) (j * kvHeads + g) * d + c);
                    }
                    p[j] = scale * dot;
                    max = Math.max(max, p[j]);
                }
                double sum = 0;
                for (int j = 0; j <= last; j++) {
                    p[j] = Math.exp(p[j] - max);
                    sum += p[j];
                }
                double delta = 0;
                for (int c = 0; c < d; c++) {
                    double oc = o instanceof Tensor t ? t.getFlat(qi + c) : ((double[]) o)[qi + c];
                    delta += dO.getFlat(qi + c) * oc;
                }
                for (int j = 0; j <= last; j++) {
                    int kj = (j * kvHeads + g) * d;
                    double pj = p[j] / sum;
                    double dp = 0;
                    for (int c = 0; c < d; c++) {
                        dp += (double) dO.getFlat(qi + c) * v.getFlat(kj + c);
                    }
                    double ds = pj * (dp - delta) * scale;
                    for (int c = 0; c < d; c++) {
                        dq[qi + c] += ds * k.getFlat(kj + c);
                        dk[kj + c] += ds * q.getFlat(qi + c);
                        dv[kj + c] += pj * dO.getFlat(qi + c);
                    }
                }
            }
        }
        return new ReferenceAttention.Grads(dq, dk, dv);
    }

    /** The test's own fp64 backward, given the exact O, is the engine's reference (to fp64 rounding). */
    private static void assertGradientsAgree(ReferenceAttention.Grads mine, ReferenceAttention.Grads engine) {
        double[][] a = {mine.dq(), mine.dk(), mine.dv()};
        double[][] b = {engine.dq(), engine.dk(), engine.dv()};
        for (int t = 0; t < 3; t++) {
            for (int i = 0; i < a[t].length; i++) {
                assertTrue(Math.abs(a[t][i] - b[t][i]) <= 1e-9, "gradient " + t + "[" + i + "]: " + a[t][i] + " vs " + b[t][i]);
            }
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
