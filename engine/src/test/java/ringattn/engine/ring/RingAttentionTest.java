package ringattn.engine.ring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.KernelOptions;
import ringattn.engine.reference.ReferenceAttention;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;
import ringattn.engine.testing.TestTensors;

/**
 * The in-JVM ring against the fp64 single-device reference. Tolerances: forward O and LSE within
 * 2e-5 absolute (fp32 accumulation over at most a few hundred keys of unit-variance inputs gives
 * errors near 1e-6; the bound must not grow with P, so it is the same for every P), backward
 * gradients within 1e-4 of the largest reference magnitude (FA-2 recomputation in fp32).
 */
class RingAttentionTest {
    private static final double FWD_TOL = 2e-5;
    private static final double BWD_TOL = 1e-4;

    static Stream<Arguments> cases() {
        List<Arguments> list = new ArrayList<>();
        int[] worlds = {1, 2, 3, 4, 5};
        for (int p : worlds) {
            list.add(Arguments.of(p, 37, 4, 4, 32, "none", ShardLayout.CONTIGUOUS));
            list.add(Arguments.of(p, 53, 4, 2, 16, "causal", ShardLayout.ZIGZAG));
            list.add(Arguments.of(p, 41, 4, 1, 16, "causal-window", ShardLayout.CONTIGUOUS));
            list.add(Arguments.of(p, 50, 2, 2, 16, "documents-causal", ShardLayout.STRIPED));
        }
        list.add(Arguments.of(5, 3, 2, 1, 8, "causal", ShardLayout.ZIGZAG)); // S < P: empty shards
        list.add(Arguments.of(4, 3, 2, 2, 8, "none", ShardLayout.CONTIGUOUS));
        list.add(Arguments.of(3, 64, 2, 2, 16, "window", ShardLayout.CONTIGUOUS));
        list.add(Arguments.of(4, 61, 2, 2, 16, "documents-window", ShardLayout.ZIGZAG));
        list.add(Arguments.of(2, 33, 4, 2, 80, "causal", ShardLayout.STRIPED));
        return list.stream();
    }

    static AttentionSpec spec(String mask, int headDim, int seqLen) {
        AttentionSpec s = AttentionSpec.of(headDim);
        long[] docs = seqLen >= 10 ? new long[] {0, 1, 7, seqLen / 2, seqLen - 2, seqLen} : new long[] {0, seqLen};
        return switch (mask) {
            case "none" -> s;
            case "causal" -> s.withCausal(true);
            case "window" -> s.withWindow(9);
            case "causal-window" -> s.withCausal(true).withWindow(7);
            case "documents-causal" -> s.withCausal(true).withDocuments(docs);
            case "documents-window" -> s.withWindow(5).withDocuments(docs);
            default -> throw new IllegalArgumentException(mask);
        };
    }

    @ParameterizedTest(name = "P={0} S={1} Hq={2} Hkv={3} D={4} {5} {6}")
    @MethodSource("cases")
    void forwardAndBackwardMatchReference(int world, int seqLen, int hq, int hkv, int d, String mask, ShardLayout layout) {
        check(world, seqLen, hq, hkv, d, spec(mask, d, seqLen), layout);
    }

    static Stream<Arguments> fewerTokensThanRanks() {
        List<Arguments> list = new ArrayList<>();
        for (ShardLayout layout : ShardLayout.values()) {
            for (String mask : List.of("causal-window", "window", "documents", "documents-causal",
                    "documents-window", "documents-causal-window")) {
                list.add(Arguments.of(7, 5, mask, layout));
                list.add(Arguments.of(8, 6, mask, layout));
            }
        }
        return list.stream();
    }

    /**
     * S &lt; P: some ranks hold empty shards (between non-empty ones in every layout), with windows
     * (the ring plan cuts the steps short and, without causal, sends blocks both ways) and with
     * documents, one of them a single token. Same tolerances as above.
     */
    @ParameterizedTest(name = "P={0} S={1} {2} {3}")
    @MethodSource("fewerTokensThanRanks")
    void fewerTokensThanRanksMatchReference(int world, int seqLen, String mask, ShardLayout layout) {
        AttentionSpec s = AttentionSpec.of(8);
        long[] docs = {0, 1, 3, seqLen}; // [0,1) is one token
        AttentionSpec spec = switch (mask) {
            case "causal-window" -> s.withCausal(true).withWindow(2);
            case "window" -> s.withWindow(2);
            case "documents" -> s.withDocuments(docs);
            case "documents-causal" -> s.withCausal(true).withDocuments(docs);
            case "documents-window" -> s.withWindow(2).withDocuments(docs);
            case "documents-causal-window" -> s.withCausal(true).withWindow(2).withDocuments(docs);
            default -> throw new IllegalArgumentException(mask);
        };
        check(world, seqLen, 2, 1, 8, spec, layout);
    }

    private static void check(int world, int seqLen, int hq, int hkv, int d, AttentionSpec spec, ShardLayout layout) {
        try (Tensor q = TestTensors.normal(1, seqLen, hq, d, DType.F32);
             Tensor k = TestTensors.normal(2, seqLen, hkv, d, DType.F32);
             Tensor v = TestTensors.normal(3, seqLen, hkv, d, DType.F32);
             Tensor dO = TestTensors.normal(4, seqLen, hq, d, DType.F32)) {
            ReferenceAttention.Result ref = ReferenceAttention.forward(q, k, v, spec);
            ReferenceAttention.Grads grads = ReferenceAttention.backward(q, k, v, dO, spec);
            RingOptions options = new RingOptions(spec, layout, Duration.ofSeconds(20));
            try (LocalRingAttention.Result res = LocalRingAttention.run(q, k, v, dO, world, options,
                    KernelOptions.defaults(1).withTiles(8, 16))) {
                double oErr = TestTensors.maxAbsError(res.out(), ref.out());
                double lseErr = TestTensors.maxLseError(ref, res::lse);
                assertTrue(oErr <= FWD_TOL, "O error " + oErr);
                assertTrue(lseErr <= FWD_TOL, "LSE error " + lseErr);
                assertTrue(TestTensors.maxRelError(res.dq(), grads.dq()) <= BWD_TOL, "dQ");
                assertTrue(TestTensors.maxRelError(res.dk(), grads.dk()) <= BWD_TOL, "dK");
                assertTrue(TestTensors.maxRelError(res.dv(), grads.dv()) <= BWD_TOL, "dV");
            }
        }
    }

    @Test
    void windowLimitsSteps() {
        AttentionSpec spec = AttentionSpec.of(16).withCausal(true).withWindow(10);
        RingPlan plan = new RingPlan(8, 800, ShardLayout.CONTIGUOUS, spec);
        assertEquals(2, plan.steps, "a 10-token window over 100-token shards needs the local and the previous block");
        RingPlan full = new RingPlan(8, 800, ShardLayout.CONTIGUOUS, AttentionSpec.of(16).withCausal(true));
        assertEquals(8, full.steps);
    }

    @Test
    void windowedBackwardTrafficDoesNotGrowWithTheRing() {
        // S = 800 on P = 8 contiguous shards of 100 tokens, causal window 10: each block is seen by
        // its owner and the next rank only, which sees its last 9 rows. Those rows' K/V go one hop
        // and the next rank's dK/dV contribution for them one hop back home: K/V bytes + gradient
        // bytes of 9 rows per rank, whatever P and the shard size are (rank 0 sees nothing of rank
        // 7's block: nothing moves).
        AttentionSpec spec = AttentionSpec.of(8).withCausal(true).withWindow(10);
        try (Tensor q = TestTensors.normal(1, 800, 1, 8, DType.F32);
             Tensor k = TestTensors.normal(2, 800, 1, 8, DType.F32);
             Tensor v = TestTensors.normal(3, 800, 1, 8, DType.F32);
             Tensor dO = TestTensors.normal(4, 800, 1, 8, DType.F32)) {
            ReferenceAttention.Grads grads = ReferenceAttention.backward(q, k, v, dO, spec);
            try (LocalRingAttention.Result res = LocalRingAttention.run(q, k, v, dO, 8,
                    new RingOptions(spec, ShardLayout.CONTIGUOUS, Duration.ofSeconds(20)), KernelOptions.defaults(1))) {
                long kvBytes = 2L * 9 * 8 * 4;
                long gradBytes = 2L * 9 * 8 * 4;
                List<RingStats> forward = res.forwardStats();
                List<RingStats> backward = res.backwardStats();
                for (int r = 0; r < 8; r++) {
                    assertEquals(2, backward.get(r).steps());
                    assertEquals(r == 0 ? 0 : kvBytes, forward.get(r).totalBytes(), "forward, rank " + r);
                    assertEquals(r == 0 ? 0 : kvBytes + gradBytes, backward.get(r).totalBytes(), "backward, rank " + r);
                }
                assertTrue(TestTensors.maxRelError(res.dk(), grads.dk()) <= BWD_TOL, "dK");
                assertTrue(TestTensors.maxRelError(res.dv(), grads.dv()) <= BWD_TOL, "dV");
                assertTrue(TestTensors.maxRelError(res.dq(), grads.dq()) <= BWD_TOL, "dQ");
            }
        }
    }

    /**
     * Forward and backward of seeded inputs ({@code seq} tokens, 2 query heads, 1 K/V head, D = 8) on
     * {@code world} contiguous in-JVM ranks: {@code check} sees the result, then O and LSE are held to
     * the fp64 reference within {@link #FWD_TOL}, dQ, dK and dV within {@link #BWD_TOL} (relative).
     */
    private static void runAndCheck(int seq, int world, AttentionSpec spec, Consumer<LocalRingAttention.Result> check) {
        try (Tensor q = TestTensors.normal(1, seq, 2, 8, DType.F32);
             Tensor k = TestTensors.normal(2, seq, 1, 8, DType.F32);
             Tensor v = TestTensors.normal(3, seq, 1, 8, DType.F32);
             Tensor dO = TestTensors.normal(4, seq, 2, 8, DType.F32)) {
            ReferenceAttention.Result ref = ReferenceAttention.forward(q, k, v, spec);
            ReferenceAttention.Grads grads = ReferenceAttention.backward(q, k, v, dO, spec);
            try (LocalRingAttention.Result res = LocalRingAttention.run(q, k, v, dO, world,
                    new RingOptions(spec, ShardLayout.CONTIGUOUS, Duration.ofSeconds(20)), KernelOptions.defaults(1))) {
                check.accept(res);
                assertTrue(TestTensors.maxAbsError(res.out(), ref.out()) <= FWD_TOL, "O");
                assertTrue(TestTensors.maxLseError(ref, res::lse) <= FWD_TOL, "LSE");
                assertTrue(TestTensors.maxRelError(res.dq(), grads.dq()) <= BWD_TOL, "dQ");
                assertTrue(TestTensors.maxRelError(res.dk(), grads.dk()) <= BWD_TOL, "dK");
                assertTrue(TestTensors.maxRelError(res.dv(), grads.dv()) <= BWD_TOL, "dV");
            }
        }
    }

    @Test
    void onlyTheRowsAnotherRankSeesTravel() {
        // S = 400 on P = 4 contiguous shards of 100 tokens, causal, documents [0, 150) and [150, 400):
        // rank 0's block is all document 0, which rank 1 sees; of rank 1's block only the 50 rows of
        // document 1 are seen later (ranks 2 and 3); rank 2's block is seen whole by rank 3; rank 3's
        // by no one. Blocks go 2 hops (rank 3 sees rank 1's), each with only those rows.
        AttentionSpec spec = AttentionSpec.of(8).withCausal(true).withDocuments(new long[] {0, 150, 400});
        RingPlan plan = new RingPlan(4, 400, ShardLayout.CONTIGUOUS, spec);
        assertEquals(3, plan.steps);
        Route route = plan.route(Direction.TO_NEXT, plan.steps - 1);
        int[] from = {0, 50, 0, 0};
        int[] tokens = {100, 50, 100, 0};
        for (int r = 0; r < 4; r++) {
            assertEquals(tokens[r], route.tokens(r), "travelling rows of rank " + r);
            if (tokens[r] > 0) {
                assertEquals(from[r], route.from(r), "first travelling row of rank " + r);
                assertEquals(100 * r + from[r], route.positions(r).first());
            }
        }
        long row = 2L * 8 * 4; // K and V of one row (fp32)
        // rank r receives the blocks of r − 1 and r − 2
        long[] received = {(0 + 100) * row, (100 + 0) * row, (50 + 100) * row, (100 + 50) * row};
        runAndCheck(400, 4, spec, res -> {
            for (int r = 0; r < 4; r++) {
                assertEquals(received[r], res.forwardStats().get(r).totalBytes(), "forward bytes, rank " + r);
            }
        });
    }

    @Test
    void nonCausalWindowSendsBlocksBothWaysOneHop() {
        // S = 600 on P = 6 contiguous shards of 100 tokens, window 20 without causal: each rank sees
        // its two neighbours' blocks, so blocks go one hop each way (3 steps), not round the ring,
        // and only the 19 rows the neighbour sees: a block's last rows forward, its first backward.
        // The ends of the sequence have one neighbour.
        AttentionSpec spec = AttentionSpec.of(8).withWindow(20);
        long rows = 2L * 19 * 8 * 4; // K and V (or dK and dV) of 19 rows
        runAndCheck(600, 6, spec, res -> {
            for (int r = 0; r < 6; r++) {
                int neighbours = r == 0 || r == 5 ? 1 : 2;
                RingStats fwd = res.forwardStats().get(r);
                assertEquals(3, fwd.steps());
                assertEquals(neighbours * rows, fwd.totalBytes(), "19 rows of K/V from each neighbour, rank " + r);
                // each way: K/V one hop, the neighbour's dK/dV contribution one hop home
                assertEquals(neighbours * (rows + rows), res.backwardStats().get(r).totalBytes(), "rank " + r);
            }
        });
    }

    /**
     * BF16 O against the fp64 reference rounded to BF16, in BF16 ulps. The ranks accumulate O in
     * fp32 and round it to BF16 once, at the end; the fp32 value lies within about 1e-6 of the exact
     * one (the fp32 bound above), far inside one BF16 ulp (2^-8 relative; at least 2^-18 for the
     * smallest |O| here, about 5e-4). So the stored value is the reference's rounding, or, for a
     * value that sits within that 1e-6 of a rounding boundary, its neighbour: at most 1 ulp, and on
     * a small fraction of the elements (2 of 2880 here; 1% allowed). A systematic error of even a
     * fraction of an ulp (truncating instead of rounding, a BF16 intermediate, an unrounded
     * reciprocal) moves a large share of the elements, which an absolute slack such as 3/256 (about
     * 10% of the small values) let pass.
     */
    @Test
    void bf16StorageMatchesReferenceOnRoundedValues() {
        AttentionSpec spec = AttentionSpec.of(32).withCausal(true);
        try (Tensor q = TestTensors.normal(11, 45, 2, 32, DType.BF16);
             Tensor k = TestTensors.normal(12, 45, 2, 32, DType.BF16);
             Tensor v = TestTensors.normal(13, 45, 2, 32, DType.BF16)) {
            ReferenceAttention.Result ref = ReferenceAttention.forward(q, k, v, spec);
            try (LocalRingAttention.Result res = LocalRingAttention.run(q, k, v, null, 3,
                    RingOptions.defaults(spec), KernelOptions.defaults(1))) {
                TestTensors.Bf16Comparison o = TestTensors.compareBf16(res.out(), ref.out());
                assertTrue(o.maxUlps() <= 1, "O: " + o);
                assertTrue(o.differ() <= o.elements() / 100, "O: " + o);
                assertTrue(TestTensors.maxLseError(ref, res::lse) <= FWD_TOL, "LSE is fp32");
            }
        }
    }

    @Test
    void backwardRepeatsBitForBit() {
        AttentionSpec spec = AttentionSpec.of(16).withCausal(true);
        try (Tensor q = TestTensors.normal(1, 70, 4, 16, DType.F32);
             Tensor k = TestTensors.normal(2, 70, 2, 16, DType.F32);
             Tensor v = TestTensors.normal(3, 70, 2, 16, DType.F32);
             Tensor dO = TestTensors.normal(4, 70, 4, 16, DType.F32)) {
            byte[][] first = null;
            for (int run = 0; run < 2; run++) {
                try (LocalRingAttention.Result res = LocalRingAttention.run(q, k, v, dO, 3,
                        RingOptions.defaults(spec), KernelOptions.defaults(2).withTiles(8, 8))) {
                    byte[][] now = {res.dq().segment().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE),
                            res.dk().segment().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE),
                            res.dv().segment().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)};
                    if (first == null) {
                        first = now;
                    } else {
                        for (int i = 0; i < 3; i++) {
                            assertArrayEquals(first[i], now[i], "gradient " + i + " differs between runs");
                        }
                    }
                }
            }
        }
    }

    @Test
    void cuSeqlensNotCoveringTheSequenceFailsOnEveryRank() {
        AttentionSpec spec = AttentionSpec.of(8).withDocuments(new long[] {0, 5, 9});
        try (Tensor q = TestTensors.normal(1, 12, 1, 8, DType.F32);
             Tensor k = TestTensors.normal(2, 12, 1, 8, DType.F32);
             Tensor v = TestTensors.normal(3, 12, 1, 8, DType.F32)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () ->
                    LocalRingAttention.run(q, k, v, null, 3, RingOptions.defaults(spec), KernelOptions.defaults(1)));
            assertTrue(e.getMessage().contains("cuSeqlens"), e.getMessage());
        }
    }
}
