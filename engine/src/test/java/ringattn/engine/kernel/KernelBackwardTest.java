package ringattn.engine.kernel;

import static ringattn.engine.kernel.KernelTestSupport.assertBelow;
import static ringattn.engine.kernel.KernelTestSupport.backward;
import static ringattn.engine.kernel.KernelTestSupport.gaussian;
import static ringattn.engine.kernel.KernelTestSupport.relError;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import ringattn.engine.kernel.KernelForwardTest.Case;
import ringattn.engine.kernel.KernelTestSupport.Backward;
import ringattn.engine.kernel.KernelTestSupport.Variant;
import ringattn.engine.reference.ReferenceAttention;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/**
 * Backward of every kernel against the fp64 reference gradients, and against finite differences.
 *
 * <p>Tolerance: max |error| ≤ 1e-4 × max |reference| for each of dQ, dK, dV. The kernel recomputes
 * P = exp(s − LSE) in fp32 and sums over up to 1000 rows or keys per element, so relative errors
 * are a few 1e-7 to 1e-6 (measured); 1e-4 leaves room for order effects (dQ partials, blocks) and
 * still fails on any wrong term (a missing scale, a wrong D, a mask leak give errors ≥ 1e-2).
 */
class KernelBackwardTest {
    static final double TOLERANCE = 1e-4;

    static final List<Case> CASES = List.of(
            new Case(1, 8, 2, 64, "none", 64, 256),
            new Case(7, 8, 2, 80, "causal", 4, 4),
            new Case(129, 8, 1, 64, "causal+window", 16, 32),
            new Case(129, 8, 8, 33, "docs", 8, 16),
            new Case(129, 8, 2, 128, "none", 32, 16),
            new Case(300, 8, 8, 96, "docs+causal", 24, 40),
            new Case(1000, 8, 2, 64, "causal", 64, 256));

    static Stream<Arguments> kernelsAndCases() {
        return KernelTestSupport.variants().flatMap(v -> CASES.stream().map(c -> Arguments.of(v, c)));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("kernelsAndCases")
    void matchesReference(Variant variant, Case c) {
        check(variant, c, DType.F32, 1);
    }

    static Stream<Arguments> kernelsAndSmallCases() {
        return KernelTestSupport.variants().flatMap(v -> Stream.of(CASES.get(2), CASES.get(3), CASES.get(4))
                .map(c -> Arguments.of(v, c)));
    }

    /** K/V as 4 uneven blocks in random order (dK/dV per block, dQ accumulated across blocks). */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("kernelsAndSmallCases")
    void shuffledBlocksMatchReference(Variant variant, Case c) {
        check(variant, c, DType.F32, 4);
    }

    /** BF16 Q/K/V/dO: the reference reads the same rounded values, so the fp32 tolerance applies. */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("kernelsAndSmallCases")
    void bf16InputsMatchReference(Variant variant, Case c) {
        check(variant, c, DType.BF16, 2);
    }

    private static void check(Variant variant, Case c, DType dtype, int blocks) {
        AttentionSpec spec = c.spec();
        try (Tensor q = gaussian(c.seq(), c.heads(), c.headDim(), dtype, 31);
             Tensor k = gaussian(c.seq(), c.kvHeads(), c.headDim(), dtype, 32);
             Tensor v = gaussian(c.seq(), c.kvHeads(), c.headDim(), dtype, 33);
             Tensor dOut = gaussian(c.seq(), c.heads(), c.headDim(), dtype, 34);
             BlockKernel kernel = variant.create(KernelOptions.defaults(2).withTiles(c.queryTile(), c.keyTile()))) {
            int[] cut = KernelTestSupport.cuts(c.seq(), blocks, 5);
            List<Integer> order = new ArrayList<>();
            for (int b = 0; b + 1 < cut.length; b++) {
                order.add(b);
            }
            Collections.shuffle(order, new Random(9));
            ReferenceAttention.Grads ref = ReferenceAttention.backward(q, k, v, dOut, spec);
            try (Backward got = backward(kernel, q, k, v, dOut, cut,
                    order.stream().mapToInt(Integer::intValue).toArray(), spec)) {
                String what = kernel.name() + " " + dtype + " blocks=" + blocks + " " + c;
                assertBelow(relError(ref.dq(), got.dq()), TOLERANCE, what + " dQ");
                assertBelow(relError(ref.dk(), got.dk()), TOLERANCE, what + " dK");
                assertBelow(relError(ref.dv(), got.dv()), TOLERANCE, what + " dV");
            }
        }
    }

    /**
     * Queries and keys at global positions that do not start at 0, as a ring rank holds them:
     * queries at 60..179 of a 300-token sequence against keys at 40..256 (4 uneven blocks, random
     * order), and a striped shard (odd positions 61..259) against the even stripe 20..298. The
     * masks are by position: a kernel that took row indices, or the positions of another block,
     * would apply another mask. Same tolerance as above.
     */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("ringattn.engine.kernel.KernelForwardTest#kernelsAndMasks")
    void shiftedPositionsMatchReference(Variant variant, String mask) {
        AttentionSpec spec = new Case(300, 4, 2, 48, mask, 8, 16).spec();
        checkAt(variant, spec, Positions.range(60, 120), Positions.range(40, 217), 4, "shifted " + mask);
        int[] odd = new int[100];
        int[] even = new int[140];
        for (int i = 0; i < odd.length; i++) {
            odd[i] = 61 + 2 * i;
        }
        for (int i = 0; i < even.length; i++) {
            even[i] = 20 + 2 * i;
        }
        checkAt(variant, spec, Positions.of(odd), Positions.of(even), 3, "strided " + mask);
    }

    static Stream<Arguments> kernelsAndScales() {
        return KernelTestSupport.variants().flatMap(v -> Stream.of(0.37f, -0.2f)
                .flatMap(scale -> Stream.of("causal", "docs+window").map(m -> Arguments.of(v, scale, m))));
    }

    /**
     * Softmax scales other than 1/√D, one of them negative (which turns the largest dot product
     * into the smallest score): dS carries the scale once more than P does, so a kernel that used
     * 1/√D, or |scale|, anywhere in the backward misses the reference by far more than 1e-4.
     */
    @ParameterizedTest(name = "{0} scale={1} {2}")
    @MethodSource("kernelsAndScales")
    void nonDefaultScalesMatchReference(Variant variant, float scale, String mask) {
        AttentionSpec spec = new Case(129, 4, 2, 32, mask, 16, 32).spec().withScale(scale);
        checkAt(variant, spec, Positions.range(0, 129), Positions.range(0, 129), 2, "scale " + scale + " " + mask);
    }

    /** Backward of queries at {@code qPos} over keys at {@code kPos} (4 query heads, 2 K/V heads, D = 48). */
    private static void checkAt(Variant variant, AttentionSpec spec, Positions qPos, Positions kPos, int blocks,
                                String what) {
        int d = 48;
        try (Tensor q = gaussian(qPos.size(), 4, d, DType.F32, 51);
             Tensor k = gaussian(kPos.size(), 2, d, DType.F32, 52);
             Tensor v = gaussian(kPos.size(), 2, d, DType.F32, 53);
             Tensor dOut = gaussian(qPos.size(), 4, d, DType.F32, 54);
             BlockKernel kernel = variant.create(KernelOptions.defaults(2).withTiles(8, 16))) {
            int[] cut = KernelTestSupport.cuts(kPos.size(), blocks, 6);
            ReferenceAttention.Grads ref = ReferenceAttention.backward(q, qPos, k, v, kPos, dOut, spec);
            try (Backward got = KernelTestSupport.backward(kernel, q, qPos, k, v, kPos, dOut, cut,
                    KernelTestSupport.shuffledOrder(cut, 10), spec)) {
                String where = kernel.name() + " " + what + " q at " + qPos + " k at " + kPos;
                assertBelow(relError(ref.dq(), got.dq()), TOLERANCE, where + " dQ");
                assertBelow(relError(ref.dk(), got.dk()), TOLERANCE, where + " dK");
                assertBelow(relError(ref.dv(), got.dv()), TOLERANCE, where + " dV");
            }
        }
    }

    /**
     * Finite differences of L = Σ O∘G through the fp64 reference forward, on a tiny causal GQA case,
     * against the kernels' gradients. Central differences with h = 1e-2 have truncation error
     * O(h²·|f'''|) ≈ 1e-5 relative here and the fp64 evaluation adds nothing visible, so 2e-3 × max
     * |gradient| separates a right gradient from a wrong one (sign or missing term: O(1)).
     */
    @Test
    void gradientsMatchFiniteDifferences() {
        int s = 5;
        int d = 4;
        AttentionSpec spec = AttentionSpec.of(d).withCausal(true).withScale(0.7f);
        try (Tensor q = gaussian(s, 2, d, DType.F32, 41);
             Tensor k = gaussian(s, 1, d, DType.F32, 42);
             Tensor v = gaussian(s, 1, d, DType.F32, 43);
             Tensor g = gaussian(s, 2, d, DType.F32, 44)) {
            double[][] fd = {numeric(q, q, k, v, g, spec), numeric(k, q, k, v, g, spec), numeric(v, q, k, v, g, spec)};
            for (Variant variant : KernelTestSupport.VARIANTS) {
                try (BlockKernel kernel = variant.create(KernelOptions.defaults(1).withTiles(2, 3));
                     Backward got = backward(kernel, q, k, v, g, new int[] {0, s}, new int[] {0}, spec)) {
                    Tensor[] grads = {got.dq(), got.dk(), got.dv()};
                    String[] names = {"dQ", "dK", "dV"};
                    for (int i = 0; i < 3; i++) {
                        assertBelow(relError(fd[i], grads[i]), 2e-3, kernel.name() + " finite differences " + names[i]);
                    }
                }
            }
        }
    }

    private static double[] numeric(Tensor x, Tensor q, Tensor k, Tensor v, Tensor g, AttentionSpec spec) {
        double h = 1e-2;
        double[] out = new double[(int) x.elementCount()];
        for (int i = 0; i < out.length; i++) {
            float x0 = x.getFlat(i);
            x.setFlat(i, (float) (x0 + h));
            double up = loss(q, k, v, g, spec);
            double hUp = (double) x.getFlat(i) - x0;
            x.setFlat(i, (float) (x0 - h));
            double down = loss(q, k, v, g, spec);
            double hDown = x0 - (double) x.getFlat(i);
            x.setFlat(i, x0);
            out[i] = (up - down) / (hUp + hDown);
        }
        return out;
    }

    private static double loss(Tensor q, Tensor k, Tensor v, Tensor g, AttentionSpec spec) {
        ReferenceAttention.Result r = ReferenceAttention.forward(q, k, v, spec);
        double l = 0;
        for (int i = 0; i < r.out().length; i++) {
            l += r.out()[i] * g.getFlat(i);
        }
        return l;
    }
}
