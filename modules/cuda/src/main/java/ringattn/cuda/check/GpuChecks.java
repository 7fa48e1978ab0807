package ringattn.cuda.check;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.BackwardPass;
import ringattn.engine.kernel.ForwardPass;
import ringattn.engine.kernel.Positions;
import ringattn.engine.reference.ReferenceAttention;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/**
 * The GPU correctness cases, shared by the JUnit {@code CublasKernelIT} and the {@link GpuCheck}
 * entry point (which runs where there is no JUnit). Each case feeds a block kernel the keys in
 * three blocks, out of order, then compares O and LSE with the fp64 {@link ReferenceAttention} on
 * the same (BF16-rounded where BF16) inputs. Tolerance: {@link #TOLERANCE} on both, absolute, with
 * N(0, 1) inputs.
 */
public final class GpuChecks {
    /**
     * Max |O − O_ref| and max |LSE − LSE_ref| allowed: fp32 rounding. With N(0, 1) inputs, headDim ≤ 128
     * and ≤ 512 keys, the fp32 computation differs from fp64 by at most 1e-6 (measured on the CPU
     * emulation: 9.5e-7 on O, 7.2e-7 on LSE); 2e-5 leaves a factor 20 for another summation order (a
     * GPU's blocked GEMMs) and is about 20 times below what a GEMM in TF32 (10-bit mantissa) gives
     * here (4e-4 to 1e-3 on F32 inputs, 8e-5 on BF16 ones, measured by rounding the emulation's GEMM
     * inputs to TF32), so a TF32 math mode fails every case.
     */
    public static final double TOLERANCE = 2e-5;
    /**
     * Max |grad − grad_ref| / max |grad_ref| allowed for dQ, dK and dV: fp32 rounding, as
     * {@link #TOLERANCE} (measured at most 1.7e-6 on the emulation).
     */
    public static final double GRAD_TOLERANCE = 2e-5;

    private GpuChecks() {
    }

    /** One case: shapes, dtypes, positions and mask. */
    public record Case(String name, int rows, int keys, int heads, int kvHeads, int headDim, DType qType,
                       DType kvType, Positions qPos, Positions kPos, AttentionSpec spec) {
    }

    /** The outcome of one case: measured errors and tolerances in {@code detail}. */
    public record Outcome(String name, boolean passed, String detail) {
        @Override
        public String toString() {
            return (passed ? "PASS " : "FAIL ") + name + ": " + detail;
        }
    }

    /** The cases: no mask, causal with GQA, window and documents, strided positions, BF16, mixed. */
    public static List<Case> cases() {
        List<Case> out = new ArrayList<>();
        out.add(new Case("f32 unmasked MHA", 193, 300, 4, 4, 64, DType.F32, DType.F32,
                Positions.range(0, 193), Positions.range(0, 300), AttentionSpec.of(64)));
        out.add(new Case("f32 causal GQA 8/2 d128", 200, 456, 8, 2, 128, DType.F32, DType.F32,
                Positions.range(256, 200), Positions.range(0, 456), AttentionSpec.of(128).withCausal(true)));
        out.add(new Case("f32 causal window 37 + documents", 456, 456, 4, 1, 32, DType.F32, DType.F32,
                Positions.range(0, 456), Positions.range(0, 456),
                AttentionSpec.of(32).withCausal(true).withWindow(37).withDocuments(new long[] {0, 100, 230, 456})));
        out.add(new Case("f32 bidirectional window 50", 300, 300, 2, 2, 64, DType.F32, DType.F32,
                Positions.range(0, 300), Positions.range(0, 300), AttentionSpec.of(64).withWindow(50)));
        out.add(new Case("f32 striped positions causal", 160, 160, 4, 2, 64, DType.F32, DType.F32,
                stride(0, 2, 160), stride(1, 2, 160), AttentionSpec.of(64).withCausal(true)));
        out.add(new Case("f32 block hidden from early rows", 128, 128, 2, 1, 64, DType.F32, DType.F32,
                Positions.range(100, 128), Positions.range(150, 128), AttentionSpec.of(64).withCausal(true)));
        out.add(new Case("bf16 causal GQA 8/2 d128", 256, 512, 8, 2, 128, DType.BF16, DType.BF16,
                Positions.range(256, 256), Positions.range(0, 512), AttentionSpec.of(128).withCausal(true)));
        out.add(new Case("bf16 unmasked d64", 129, 257, 4, 4, 64, DType.BF16, DType.BF16,
                Positions.range(0, 129), Positions.range(0, 257), AttentionSpec.of(64)));
        out.add(new Case("mixed q f32, kv bf16, causal", 150, 150, 4, 2, 64, DType.F32, DType.BF16,
                Positions.range(0, 150), Positions.range(0, 150), AttentionSpec.of(64).withCausal(true)));
        return out;
    }

    private static Positions stride(int start, int step, int count) {
        int[] p = new int[count];
        for (int i = 0; i < count; i++) {
            p[i] = start + i * step;
        }
        return Positions.of(p);
    }

    /** Runs one case on {@code kernel}. */
    public static Outcome run(BlockKernel kernel, Case c) {
        long seed = c.name().hashCode();
        try (Tensor q = normal(seed, c.rows(), c.heads(), c.headDim(), c.qType());
             Tensor k = normal(seed + 1, c.keys(), c.kvHeads(), c.headDim(), c.kvType());
             Tensor v = normal(seed + 2, c.keys(), c.kvHeads(), c.headDim(), c.kvType());
             Tensor o = Tensor.allocate(c.rows(), c.heads(), c.headDim(), DType.F32);
             ForwardPass state = kernel.beginForward(q, c.qPos(), c.spec());
             Arena arena = Arena.ofConfined()) {
            int a = c.keys() / 3;
            int b = 2 * c.keys() / 3;
            int[][] blocks = {{b, c.keys()}, {0, a}, {a, b}};
            for (int[] blk : blocks) {
                int n = blk[1] - blk[0];
                if (n > 0) {
                    state.update(k.tokens(blk[0], n), v.tokens(blk[0], n), c.kPos().slice(blk[0], n));
                }
            }
            MemorySegment lse = arena.allocate((long) c.rows() * c.heads() * 4);
            state.finish(o, lse);
            ReferenceAttention.Result ref = ReferenceAttention.forward(q, c.qPos(), k, v, c.kPos(), c.spec());
            double outErr = 0;
            for (long i = 0; i < o.elementCount(); i++) {
                double e = Math.abs(o.getFlat(i) - ref.out()[(int) i]);
                outErr = Double.isNaN(e) ? Double.POSITIVE_INFINITY : Math.max(outErr, e);
            }
            double lseErr = 0;
            int emptyMismatch = 0;
            for (int h = 0; h < c.heads(); h++) {
                for (int r = 0; r < c.rows(); r++) {
                    double want = ref.lse(h, r);
                    double got = lse.getAtIndex(ValueLayout.JAVA_FLOAT, (long) h * c.rows() + r);
                    if (want == Double.NEGATIVE_INFINITY || got == Double.NEGATIVE_INFINITY) {
                        emptyMismatch += want == got ? 0 : 1;
                        continue;
                    }
                    double e = Math.abs(got - want);
                    lseErr = Double.isNaN(e) ? Double.POSITIVE_INFINITY : Math.max(lseErr, e);
                }
            }
            boolean ok = outErr <= TOLERANCE && lseErr <= TOLERANCE && emptyMismatch == 0;
            return new Outcome(c.name(), ok, String.format("max|dO| %.3g, max|dLSE| %.3g (tolerance %s)%s",
                    outErr, lseErr, TOLERANCE,
                    emptyMismatch == 0 ? "" : "; " + emptyMismatch + " rows disagree on seeing no key"));
        }
    }

    /** A backward case: self-attention over positions 0..tokens-1 (what the fp64 reference supports). */
    public record BackwardCase(String name, int tokens, int heads, int kvHeads, int headDim, DType dtype,
                               AttentionSpec spec) {
    }

    /** The backward cases: no mask, causal GQA, window and documents, BF16. */
    public static List<BackwardCase> backwardCases() {
        return List.of(
                new BackwardCase("backward f32 unmasked", 150, 4, 4, 64, DType.F32, AttentionSpec.of(64)),
                new BackwardCase("backward f32 causal GQA 8/2", 200, 8, 2, 64, DType.F32,
                        AttentionSpec.of(64).withCausal(true)),
                new BackwardCase("backward f32 causal window 37 + documents", 230, 4, 1, 32, DType.F32,
                        AttentionSpec.of(32).withCausal(true).withWindow(37).withDocuments(new long[] {0, 100, 230})),
                new BackwardCase("backward bf16 causal GQA 4/2", 160, 4, 2, 64, DType.BF16,
                        AttentionSpec.of(64).withCausal(true)));
    }

    /**
     * Runs the forward (three blocks) and then the backward (three blocks, another order) of one
     * case on {@code kernel} and compares dQ, dK, dV with the fp64 reference, relative to the
     * largest reference magnitude of each ({@link #GRAD_TOLERANCE}).
     */
    public static Outcome runBackward(BlockKernel kernel, BackwardCase c) {
        long seed = c.name().hashCode();
        int n = c.tokens();
        Positions pos = Positions.range(0, n);
        try (Tensor q = normal(seed, n, c.heads(), c.headDim(), c.dtype());
             Tensor k = normal(seed + 1, n, c.kvHeads(), c.headDim(), c.dtype());
             Tensor v = normal(seed + 2, n, c.kvHeads(), c.headDim(), c.dtype());
             Tensor dO = normal(seed + 3, n, c.heads(), c.headDim(), c.dtype());
             Tensor o = Tensor.allocate(n, c.heads(), c.headDim(), DType.F32);
             Tensor dq = Tensor.allocate(n, c.heads(), c.headDim(), DType.F32);
             Tensor dK = Tensor.allocate(n, c.kvHeads(), c.headDim(), DType.F32);
             Tensor dV = Tensor.allocate(n, c.kvHeads(), c.headDim(), DType.F32);
             Arena arena = Arena.ofConfined()) {
            int a = n / 3;
            int b = 2 * n / 3;
            MemorySegment lse = arena.allocate((long) n * c.heads() * 4);
            try (ForwardPass fs = kernel.beginForward(q, pos, c.spec())) {
                for (int[] blk : new int[][] {{b, n}, {0, a}, {a, b}}) {
                    fs.update(k.tokens(blk[0], blk[1] - blk[0]), v.tokens(blk[0], blk[1] - blk[0]),
                            pos.slice(blk[0], blk[1] - blk[0]));
                }
                fs.finish(o, lse);
            }
            try (BackwardPass bs = kernel.beginBackward(q, pos, o, dO, lse, c.spec())) {
                for (int[] blk : new int[][] {{a, b}, {b, n}, {0, a}}) {
                    int len = blk[1] - blk[0];
                    bs.update(k.tokens(blk[0], len), v.tokens(blk[0], len), pos.slice(blk[0], len),
                            dK.tokens(blk[0], len), dV.tokens(blk[0], len));
                }
                bs.finish(dq);
            }
            ReferenceAttention.Grads ref = ReferenceAttention.backward(q, k, v, dO, c.spec());
            double eq = relError(dq, ref.dq());
            double ek = relError(dK, ref.dk());
            double ev = relError(dV, ref.dv());
            double worst = Math.max(eq, Math.max(ek, ev));
            boolean ok = worst <= GRAD_TOLERANCE;
            return new Outcome(c.name(), ok, String.format("relative max error dQ %.3g, dK %.3g, dV %.3g (tolerance %s)",
                    eq, ek, ev, GRAD_TOLERANCE));
        }
    }

    private static double relError(Tensor t, double[] ref) {
        double scale = 0;
        for (double r : ref) {
            scale = Math.max(scale, Math.abs(r));
        }
        double max = 0;
        for (long i = 0; i < t.elementCount(); i++) {
            double e = Math.abs(t.getFlat(i) - ref[(int) i]);
            max = Double.isNaN(e) ? Double.POSITIVE_INFINITY : Math.max(max, e);
        }
        return max / Math.max(scale, 1e-30);
    }

    /** A tensor of seeded N(0, 1) values, stored in {@code dtype}. */
    public static Tensor normal(long seed, int tokens, int heads, int headDim, DType dtype) {
        Tensor t = Tensor.allocate(tokens, heads, headDim, dtype);
        SplittableRandom rnd = new SplittableRandom(seed);
        long n = t.elementCount();
        for (long i = 0; i < n; i++) {
            double u = 1.0 - rnd.nextDouble();
            double w = rnd.nextDouble();
            t.setFlat(i, (float) (Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * w)));
        }
        return t;
    }
}
