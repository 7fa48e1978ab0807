package ringattn.engine.kernel;

import static ringattn.engine.kernel.KernelTestSupport.assertBelow;
import static ringattn.engine.kernel.KernelTestSupport.forward;
import static ringattn.engine.kernel.KernelTestSupport.forwardErrors;
import static ringattn.engine.kernel.KernelTestSupport.gaussian;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import ringattn.engine.kernel.KernelTestSupport.Forward;
import ringattn.engine.kernel.KernelTestSupport.Variant;
import ringattn.engine.reference.ReferenceAttention;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/**
 * Forward of every kernel (Vector API at 512, 256 and 128 bits, scalar) against the fp64 reference.
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
            AttentionSpec s = AttentionSpec.of(headDim);
            for (String m : mask.split("\\+")) {
                switch (m) {
                    case "none" -> { }
                    case "causal" -> s = s.withCausal(true);
                    case "window" -> s = s.withWindow(Math.max(1, seq / 8));
                    case "docs" -> s = s.withDocuments(new long[] {0, seq / 3, seq / 3 + 1, seq - seq / 5, seq});
                    default -> throw new IllegalArgumentException(m);
                }
            }
            return s;
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

    static Stream<Arguments> kernelsAndBf16Cases() {
        List<Case> bf16 = List.of(CASES.get(2), CASES.get(6), CASES.get(9), CASES.get(10));
        return KernelTestSupport.variants().flatMap(v -> bf16.stream().map(c -> Arguments.of(v, c)));
    }

    /**
     * BF16 inputs: the reference reads the same rounded values, and the kernel widens them exactly
     * and accumulates in fp32, so the fp32 tolerance applies unchanged.
     */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("kernelsAndBf16Cases")
    void bf16InputsMatchReferenceOnRoundedValues(Variant variant, Case c) {
        Object[] in = inputs(c, DType.BF16);
        try (BlockKernel kernel = variant.create(KernelOptions.defaults(2).withTiles(c.queryTile(), c.keyTile()));
             Forward got = forward(kernel, (Tensor) in[0], (Tensor) in[1], (Tensor) in[2], c.spec())) {
            double[] e = forwardErrors((ReferenceAttention.Result) in[3], got);
            assertBelow(e[0], TOLERANCE, kernel.name() + " bf16 " + c + " O");
            assertBelow(e[1], TOLERANCE, kernel.name() + " bf16 " + c + " LSE");
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
    @MethodSource("ringattn.engine.kernel.KernelTestSupport#variants")
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

    static Stream<Arguments> kernelsAndScales() {
        return KernelTestSupport.variants().flatMap(v -> Stream.of(0.37f, -0.2f)
                .flatMap(scale -> Stream.of("none", "causal", "docs+window").map(m -> Arguments.of(v, scale, m))));
    }

    /**
     * Softmax scales other than 1/√D, one of them negative (the largest dot product becomes the
     * smallest score, so the row maximum comes from another key). Scores stay O(1)–O(10) at D = 32,
     * so the 1e-5 tolerance holds; a kernel that used 1/√D or |scale| misses by O(0.1–1).
     */
    @ParameterizedTest(name = "{0} scale={1} {2}")
    @MethodSource("kernelsAndScales")
    void nonDefaultScalesMatchReference(Variant variant, float scale, String mask) {
        Case c = new Case(129, 4, 2, 32, mask, 16, 32);
        AttentionSpec spec = c.spec().withScale(scale);
        try (Tensor q = gaussian(c.seq(), 4, 32, DType.F32, 61);
             Tensor k = gaussian(c.seq(), 2, 32, DType.F32, 62);
             Tensor v = gaussian(c.seq(), 2, 32, DType.F32, 63);
             BlockKernel kernel = variant.create(KernelOptions.defaults(2).withTiles(c.queryTile(), c.keyTile()))) {
            Positions pos = Positions.range(0, c.seq());
            int[] cut = KernelTestSupport.cuts(c.seq(), 2, 8);
            ReferenceAttention.Result ref = ReferenceAttention.forward(q, k, v, spec);
            try (Forward got = forward(kernel, q, pos, k, v, pos, cut, KernelTestSupport.shuffledOrder(cut, 3), spec)) {
                double[] e = forwardErrors(ref, got);
                assertBelow(e[0], TOLERANCE, kernel.name() + " scale " + scale + " " + mask + " O");
                assertBelow(e[1], TOLERANCE, kernel.name() + " scale " + scale + " " + mask + " LSE");
            }
        }
    }

    static Stream<Arguments> kernelsAndMasks() {
        List<String> masks = List.of("none", "causal", "window", "causal+window", "docs+causal", "docs+window");
        return KernelTestSupport.variants().flatMap(v -> masks.stream().map(m -> Arguments.of(v, m)));
    }

    /**
     * K/V split into uneven blocks fed in random order, queries a shard at an offset (as a ring rank
     * sees them): online-softmax merging must not depend on block order. Same 1e-5 tolerance: the
     * merge adds one rescale per block, far below it.
     */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("kernelsAndMasks")
    void shuffledBlocksMatchReference(Variant variant, String mask) {
        int seq = 257;
        Case c = new Case(seq, 8, 2, 64, mask, 16, 32);
        AttentionSpec spec = c.spec();
        int q0 = 60;
        int qn = 120;
        try (Tensor q = gaussian(qn, 8, 64, DType.F32, 11);
             Tensor k = gaussian(seq, 2, 64, DType.F32, 12);
             Tensor v = gaussian(seq, 2, 64, DType.F32, 13);
             BlockKernel kernel = variant.create(KernelOptions.defaults(2).withTiles(16, 32))) {
            Positions qPos = Positions.range(q0, qn);
            Positions kPos = Positions.range(0, seq);
            int[] cut = KernelTestSupport.cuts(seq, 5, 7);
            List<Integer> order = new ArrayList<>();
            for (int b = 0; b + 1 < cut.length; b++) {
                order.add(b);
            }
            Collections.shuffle(order, new Random(mask.hashCode()));
            ReferenceAttention.Result ref = ReferenceAttention.forward(q, qPos, k, v, kPos, spec);
            try (Forward got = forward(kernel, q, qPos, k, v, kPos, cut,
                    order.stream().mapToInt(Integer::intValue).toArray(), spec)) {
                double[] e = forwardErrors(ref, got);
                assertBelow(e[0], TOLERANCE, kernel.name() + " shuffled " + mask + " O");
                assertBelow(e[1], TOLERANCE, kernel.name() + " shuffled " + mask + " LSE");
            }
        }
    }

    /**
     * Non-contiguous positions (a striped layout: this rank holds even positions, keys arrive as the
     * even and the odd stripes), with masks: the tile classification and the visible ranges must use
     * positions, not indices. Rows at the start see no key in some blocks, which exercises the
     * "no visible key" path block by block.
     */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("kernelsAndMasks")
    void stridedPositionsMatchReference(Variant variant, String mask) {
        int seq = 200;
        Case c = new Case(seq, 4, 2, 48, mask, 8, 16);
        AttentionSpec spec = c.spec();
        int half = seq / 2;
        int[] even = new int[half];
        int[] odd = new int[half];
        for (int i = 0; i < half; i++) {
            even[i] = 2 * i;
            odd[i] = 2 * i + 1;
        }
        try (Tensor q = gaussian(half, 4, 48, DType.F32, 21);
             Tensor k = gaussian(seq, 2, 48, DType.F32, 22);
             Tensor v = gaussian(seq, 2, 48, DType.F32, 23);
             BlockKernel kernel = variant.create(KernelOptions.defaults(2).withTiles(8, 16))) {
            Positions qPos = Positions.of(even);
            // K/V rows 0..half-1 hold the odd stripe, rows half.. the even stripe (two blocks).
            Positions kOdd = Positions.of(odd);
            Positions kEven = Positions.of(even);
            try (ForwardPass st = kernel.beginForward(q, qPos, spec)) {
                st.update(k.tokens(half, half), v.tokens(half, half), kEven);
                st.update(k.tokens(0, half), v.tokens(0, half), kOdd);
                try (var arena = java.lang.foreign.Arena.ofConfined(); Tensor out = Tensor.allocate(half, 4, 48, DType.F32)) {
                    var lse = arena.allocate(4L * half * 4);
                    st.finish(out, lse);
                    // Reference over both stripes: concatenate in position order.
                    int[] all = new int[seq];
                    for (int i = 0; i < seq; i++) {
                        all[i] = i;
                    }
                    try (Tensor kAll = Tensor.allocate(seq, 2, 48, DType.F32);
                         Tensor vAll = Tensor.allocate(seq, 2, 48, DType.F32)) {
                        for (int i = 0; i < half; i++) {
                            for (int g = 0; g < 2; g++) {
                                for (int d = 0; d < 48; d++) {
                                    kAll.set(2 * i + 1, g, d, k.get(i, g, d));
                                    vAll.set(2 * i + 1, g, d, v.get(i, g, d));
                                    kAll.set(2 * i, g, d, k.get(half + i, g, d));
                                    vAll.set(2 * i, g, d, v.get(half + i, g, d));
                                }
                            }
                        }
                        ReferenceAttention.Result ref = ReferenceAttention.forward(q, qPos, kAll, vAll,
                                Positions.of(all), spec);
                        double eo = 0;
                        double el = 0;
                        for (int i = 0; i < ref.out().length; i++) {
                            eo = Math.max(eo, KernelTestSupport.diff(ref.out()[i], out.getFlat(i)));
                        }
                        for (int i = 0; i < ref.lse().length; i++) {
                            el = Math.max(el, KernelTestSupport.diff(ref.lse()[i],
                                    lse.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i)));
                        }
                        assertBelow(eo, TOLERANCE, kernel.name() + " strided " + mask + " O");
                        assertBelow(el, TOLERANCE, kernel.name() + " strided " + mask + " LSE");
                    }
                }
            }
        }
    }
}
