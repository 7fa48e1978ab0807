package ringattn.engine.kernel;

import static ringattn.engine.kernel.contract.KernelTestSupport.assertBelow;
import static ringattn.engine.kernel.contract.KernelTestSupport.forward;
import static ringattn.engine.kernel.contract.KernelTestSupport.forwardErrors;
import static ringattn.engine.kernel.contract.KernelTestSupport.gaussian;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import ringattn.engine.kernel.contract.KernelTestSupport;
import ringattn.engine.kernel.contract.KernelTestSupport.Forward;
import ringattn.engine.kernel.contract.KernelTestSupport.Variant;
import ringattn.engine.reference.ReferenceAttention;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/**
 * Forward of every CPU kernel (Vector API at 512, 256 and 128 bits, scalar) against the fp64
 * reference over shapes and tile sizes: sequence lengths from 1 to 1000, head dimensions with and
 * without a vector tail (33 to 256), tiles from 4 × 4 to 64 × 256, and keys whose scores grow
 * across tiles (the Vector API kernel's lazy rescale). What every kernel promises (blocks in any
 * order, masks, positions, BF16, scales, …) is the contract suite's
 * ({@code ringattn.engine.kernel.contract.BlockKernelContract}).
 *
 * <p>Tolerance: max |error| ≤ 1e-5 on O and on LSE. Inputs are N(0,1) with the default scale
 * 1/√D, so scores are O(1), LSE is O(ln S) and O is a convex combination of N(0,1) values: fp32
 * accumulation over D ≤ 128 terms and ≤ 1000 keys gives errors of a few 1e-7 (measured), so 1e-5
 * leaves room for summation order while still catching any wrong mask, scale or rescale (those give
 * errors of order 0.1–1).
 */
class KernelForwardTest {
    static final double TOLERANCE = 1e-5;

    /** One input shape and mask. Small tiles make the small cases cross many tiles and tails. */
    record Case(int seq, int heads, int kvHeads, int headDim, String mask, int queryTile, int keyTile) {
        AttentionSpec spec() {
            return KernelTestSupport.spec(mask, seq, headDim);
        }

        @Override
        public String toString() {
            return "S=" + seq + " H=" + heads + "/" + kvHeads + " D=" + headDim + " " + mask
                    + " tiles=" + queryTile + "x" + keyTile;
        }
    }

    static final List<Case> CASES = List.of(
            new Case(1, 8, 8, 64, "none", 64, 256),
            new Case(1, 8, 1, 128, "causal", 64, 256),
            new Case(7, 8, 2, 80, "causal", 4, 4),
            new Case(7, 8, 8, 33, "window", 64, 256),
            new Case(129, 8, 8, 64, "none", 16, 32),
            new Case(129, 8, 1, 128, "causal", 16, 64),
            new Case(129, 8, 2, 33, "window", 8, 16),
            new Case(129, 8, 8, 80, "causal+window", 32, 16),
            new Case(129, 8, 2, 96, "docs", 16, 32),
            new Case(129, 8, 1, 64, "docs+causal", 64, 256),
            new Case(300, 8, 2, 80, "docs+causal+window", 24, 40),
            new Case(1000, 8, 2, 128, "causal", 64, 256),
            new Case(1000, 8, 8, 64, "none", 64, 256),
            new Case(1000, 8, 1, 80, "docs+window", 32, 128),
            new Case(300, 4, 2, 256, "none", 64, 128),
            new Case(300, 4, 1, 256, "causal", 32, 64));

    private static final Map<String, Object[]> INPUTS = new ConcurrentHashMap<>();

    /** Inputs and reference of a case, computed once and shared by the kernel variants. */
    private static Object[] inputs(Case c, DType dtype) {
        return INPUTS.computeIfAbsent(c + " " + dtype, key -> {
            Tensor q = gaussian(c.seq(), c.heads(), c.headDim(), dtype, 1);
            Tensor k = gaussian(c.seq(), c.kvHeads(), c.headDim(), dtype, 2);
            Tensor v = gaussian(c.seq(), c.kvHeads(), c.headDim(), dtype, 3);
            return new Object[] {q, k, v, ReferenceAttention.forward(q, k, v, c.spec())};
        });
    }

    @AfterAll
    static void free() {
        for (Object[] in : INPUTS.values()) {
            for (int i = 0; i < 3; i++) {
                ((Tensor) in[i]).close();
            }
        }
        INPUTS.clear();
    }

    static Stream<Variant> variants() {
        return KernelTestSupport.variants();
    }

    static Stream<Arguments> kernelsAndCases() {
        return KernelTestSupport.variants().flatMap(v -> CASES.stream().map(c -> Arguments.of(v, c)));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("kernelsAndCases")
    void matchesReference(Variant variant, Case c) {
        Object[] in = inputs(c, DType.F32);
        try (BlockKernel kernel = variant.create(KernelOptions.defaults(2).withTiles(c.queryTile(), c.keyTile()));
             Forward got = forward(kernel, (Tensor) in[0], (Tensor) in[1], (Tensor) in[2], c.spec())) {
            double[] e = forwardErrors((ReferenceAttention.Result) in[3], got);
            assertBelow(e[0], TOLERANCE, kernel.name() + " " + c + " O");
            assertBelow(e[1], TOLERANCE, kernel.name() + " " + c + " LSE");
        }
    }

    /**
     * Keys whose norm grows along the sequence (key j scaled by 1 + j/10), so that each key tile's
     * scores exceed the maximum of the tiles before them: by less than the lazy-softmax limit (the
     * tile keeps the old maximum, probabilities up to e^16) and by more (the tile is redone with
     * the new maximum), in both orders of the blocks. Scores reach ~±100, whose fp32 rounding is
     * ~1e-5 absolute; hence 1e-4 on O and LSE (a missed rescale gives errors of order 1).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("variants")
    void growingScoresMatchReference(Variant variant) {
        int seq = 400;
        AttentionSpec spec = AttentionSpec.of(64);
        try (Tensor q = gaussian(seq, 4, 64, DType.F32, 31);
             Tensor k = gaussian(seq, 2, 64, DType.F32, 32);
             Tensor v = gaussian(seq, 2, 64, DType.F32, 33);
             BlockKernel kernel = variant.create(KernelOptions.defaults(2).withTiles(64, 32))) {
            for (int j = 0; j < seq; j++) {
                for (int h = 0; h < 2; h++) {
                    for (int c = 0; c < 64; c++) {
                        long i = ((long) j * 2 + h) * 64 + c;
                        k.setFlat(i, k.getFlat(i) * (1 + j / 10f));
                    }
                }
            }
            ReferenceAttention.Result ref = ReferenceAttention.forward(q, k, v, spec);
            Positions pos = Positions.range(0, seq);
            int[] cut = {0, 150, 300, seq};
            for (int[] order : new int[][] {{0, 1, 2}, {2, 0, 1}}) {
                try (Forward got = forward(kernel, q, pos, k, v, pos, cut, order, spec)) {
                    double[] e = forwardErrors(ref, got);
                    assertBelow(e[0], 1e-4, kernel.name() + " growing scores O");
                    assertBelow(e[1], 1e-4, kernel.name() + " growing scores LSE");
                }
            }
        }
    }
}
