package ringattn.engine.kernel.contract;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import ringattn.engine.device.Devices;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.BackwardPass;
import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.ForwardPass;
import ringattn.engine.kernel.KernelOptions;
import ringattn.engine.kernel.Positions;
import ringattn.engine.reference.ReferenceAttention;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/**
 * Shared helpers of the kernel tests and of {@link BlockKernelContract}: the CPU kernels under test,
 * inputs, masks, runs over blocks, error measures. Public, in a package of its own, so that other
 * modules' tests reach it from the engine's test-jar (on their class path).
 */
public final class KernelTestSupport {
    private KernelTestSupport() {
    }

    /**
     * A kernel variant under test: the Vector API kernel at each forced width and register blocking
     * (for 32 registers: AVX-512, NEON; for 16: AVX2, SSE), and the scalar kernel.
     */
    public record Variant(String impl, int bits, int registers) {
        public BlockKernel create(KernelOptions options) {
            return Devices.select("cpu", options.withImpl(impl).withSimdBits(bits).withSimdRegisters(registers)).kernel();
        }

        @Override
        public String toString() {
            return impl.equals("scalar") ? "scalar" : "panama-" + bits + "r" + registers;
        }
    }

    public static final List<Variant> VARIANTS = List.of(
            new Variant("simd", 512, 32), new Variant("simd", 256, 32), new Variant("simd", 256, 16),
            new Variant("simd", 128, 32), new Variant("simd", 128, 16), new Variant("scalar", 0, 0));

    public static Stream<Variant> variants() {
        return VARIANTS.stream();
    }

    /**
     * The spec of head dimension {@code headDim} for a mask named by {@code +}-joined parts:
     * {@code none}, {@code causal}, {@code window} (W = seq/8), {@code docs} (documents
     * {@code [0, seq/3, seq/3+1, seq−seq/5, seq]}, one of them a single token).
     */
    public static AttentionSpec spec(String mask, int seq, int headDim) {
        AttentionSpec s = AttentionSpec.of(headDim);
        for (String m : mask.split("\\+")) {
            switch (m) {
                case "none" -> { }
                case "causal" -> s = s.withCausal(true);
                case "window" -> s = s.withWindow(Math.max(1, seq / 8));
                case "docs" -> s = s.withDocuments(new long[] {0, seq / 3, seq / 3 + 1, seq - seq / 5, seq});
                default -> throw new IllegalArgumentException("mask: unknown part '" + m + "' in '" + mask + "'");
            }
        }
        return s;
    }

    /** N(0,1) values in a tensor of the given dtype (rounded to it). */
    public static Tensor gaussian(int tokens, int heads, int headDim, DType dtype, long seed) {
        Tensor t = Tensor.allocate(tokens, heads, headDim, dtype);
        Random r = new Random(seed);
        for (long i = 0; i < t.elementCount(); i++) {
            t.setFlat(i, (float) r.nextGaussian());
        }
        return t;
    }

    /** Splits {@code [0, n)} into {@code parts} runs of uneven, non-empty lengths (as possible). */
    public static int[] cuts(int n, int parts, long seed) {
        Random r = new Random(seed);
        int p = Math.max(1, Math.min(parts, n));
        List<Integer> c = new ArrayList<>();
        c.add(0);
        while (c.size() < p) {
            int x = 1 + r.nextInt(Math.max(1, n - 1));
            if (!c.contains(x)) {
                c.add(x);
            }
        }
        c.add(n);
        return c.stream().mapToInt(Integer::intValue).sorted().toArray();
    }

    /** Forward output (F32) and LSE of queries {@code q} over K/V given as blocks in {@code order}. */
    public record Forward(Tensor out, MemorySegment lse, Arena arena) implements AutoCloseable {
        public float lse(int i) {
            return lse.getAtIndex(ValueLayout.JAVA_FLOAT, i);
        }

        @Override
        public void close() {
            out.close();
            arena.close();
        }
    }

    /**
     * Runs the forward of {@code q} (positions {@code qPos}) over the K/V rows {@code [cut[b], cut[b+1])}
     * fed block by block in {@code order}.
     */
    public static Forward forward(BlockKernel kernel, Tensor q, Positions qPos, Tensor k, Tensor v, Positions kPos,
                           int[] cut, int[] order, AttentionSpec spec) {
        Arena arena = Arena.ofShared();
        MemorySegment lse = arena.allocate(Math.max(4, 4L * q.tokens() * q.heads()));
        Tensor out = Tensor.allocate(q.tokens(), q.heads(), q.headDim(), DType.F32);
        try (ForwardPass pass = kernel.beginForward(q, qPos, spec)) {
            for (int b : order) {
                int from = cut[b];
                int n = cut[b + 1] - from;
                pass.update(k.tokens(from, n), v.tokens(from, n), kPos.slice(from, n));
            }
            pass.finish(out, lse);
            return new Forward(out, lse, arena);
        }
    }

    /** Forward over the whole K/V as one block. */
    public static Forward forward(BlockKernel kernel, Tensor q, Tensor k, Tensor v, AttentionSpec spec) {
        return forward(kernel, q, Positions.range(0, q.tokens()), k, v, Positions.range(0, k.tokens()),
                new int[] {0, k.tokens()}, new int[] {0}, spec);
    }

    /** Max |ref − got| over O and over LSE (−∞ matching −∞ counts as 0). */
    public static double[] forwardErrors(ReferenceAttention.Result ref, Forward got) {
        double eo = 0;
        for (int i = 0; i < ref.out().length; i++) {
            eo = Math.max(eo, diff(ref.out()[i], got.out().getFlat(i)));
        }
        double el = 0;
        for (int i = 0; i < ref.lse().length; i++) {
            el = Math.max(el, diff(ref.lse()[i], got.lse(i)));
        }
        return new double[] {eo, el};
    }

    public static double diff(double ref, double got) {
        if (ref == got) {
            return 0; // also −∞ == −∞
        }
        double d = Math.abs(ref - got);
        return Double.isNaN(d) ? Double.POSITIVE_INFINITY : d;
    }

    /** Max |ref − got| / max |ref| (0 when both are all zero). */
    public static double relError(double[] ref, Tensor got) {
        double mx = 0;
        double e = 0;
        for (int i = 0; i < ref.length; i++) {
            mx = Math.max(mx, Math.abs(ref[i]));
            e = Math.max(e, diff(ref[i], got.getFlat(i)));
        }
        return mx == 0 ? e : e / mx;
    }

    /** The reference output as a tensor of {@code dtype} and its LSE as fp32 {@code [heads, rows]}. */
    public static Tensor toTensor(double[] values, int tokens, int heads, int headDim, DType dtype) {
        Tensor t = Tensor.allocate(tokens, heads, headDim, dtype);
        for (int i = 0; i < values.length; i++) {
            t.setFlat(i, (float) values[i]);
        }
        return t;
    }

    public static MemorySegment lseSegment(Arena arena, double[] lse) {
        MemorySegment s = arena.allocate(Math.max(4, 4L * lse.length));
        for (int i = 0; i < lse.length; i++) {
            s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) lse[i]);
        }
        return s;
    }

    /** Gradients from the kernel: dQ and per-block dK/dV assembled into whole tensors. */
    public record Backward(Tensor dq, Tensor dk, Tensor dv) implements AutoCloseable {
        @Override
        public void close() {
            dq.close();
            dk.close();
            dv.close();
        }
    }

    /**
     * Runs the backward of full self-attention (positions 0..S−1) with O and LSE from the fp64
     * reference, K/V fed as blocks {@code [cut[b], cut[b+1])} in {@code order}.
     */
    public static Backward backward(BlockKernel kernel, Tensor q, Tensor k, Tensor v, Tensor dOut, int[] cut, int[] order,
                             AttentionSpec spec) {
        return backward(kernel, q, Positions.range(0, q.tokens()), k, v, Positions.range(0, k.tokens()), dOut,
                cut, order, spec);
    }

    /**
     * Runs the backward of queries at {@code qPos} over keys at {@code kPos} with O and LSE from the
     * fp64 reference, K/V fed as blocks {@code [cut[b], cut[b+1])} in {@code order}.
     */
    public static Backward backward(BlockKernel kernel, Tensor q, Positions qPos, Tensor k, Tensor v, Positions kPos,
                             Tensor dOut, int[] cut, int[] order, AttentionSpec spec) {
        ReferenceAttention.Result ref = ReferenceAttention.forward(q, qPos, k, v, kPos, spec);
        Tensor dq = Tensor.allocate(q.tokens(), q.heads(), q.headDim(), DType.F32);
        Tensor dk = Tensor.allocate(k.tokens(), k.heads(), k.headDim(), DType.F32);
        Tensor dv = Tensor.allocate(k.tokens(), k.heads(), k.headDim(), DType.F32);
        try (Arena arena = Arena.ofShared(); // shared: kernel workers read the LSE
             Tensor out = toTensor(ref.out(), q.tokens(), q.heads(), q.headDim(), DType.F32);
             BackwardPass st = kernel.beginBackward(q, qPos, out, dOut, lseSegment(arena, ref.lse()), spec)) {
            for (int b : order) {
                int from = cut[b];
                int n = cut[b + 1] - from;
                st.update(k.tokens(from, n), v.tokens(from, n), kPos.slice(from, n),
                        dk.tokens(from, n), dv.tokens(from, n));
            }
            st.finish(dq);
        }
        return new Backward(dq, dk, dv);
    }

    /** The block order {@code 0, 1, …} of {@code cut}, shuffled with {@code seed}. */
    public static int[] shuffledOrder(int[] cut, long seed) {
        List<Integer> order = new ArrayList<>();
        for (int b = 0; b + 1 < cut.length; b++) {
            order.add(b);
        }
        Collections.shuffle(order, new Random(seed));
        return order.stream().mapToInt(Integer::intValue).toArray();
    }

    public static void assertBelow(double error, double tolerance, String what) {
        assertTrue(error <= tolerance, what + ": error " + error + " exceeds " + tolerance);
    }
}
