package ringattn.engine.kernel.contract;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static ringattn.engine.kernel.contract.BlockRuns.assertSameBytes;
import static ringattn.engine.kernel.contract.BlockRuns.backward;
import static ringattn.engine.kernel.contract.BlockRuns.bytes;
import static ringattn.engine.kernel.contract.BlockRuns.describe;
import static ringattn.engine.kernel.contract.BlockRuns.feed;
import static ringattn.engine.kernel.contract.BlockRuns.forward;
import static ringattn.engine.kernel.contract.BlockRuns.range;
import static ringattn.engine.kernel.contract.BlockRuns.runs;
import static ringattn.engine.kernel.contract.BlockRuns.stripes;
import static ringattn.engine.kernel.contract.BlockRuns.stride;
import static ringattn.engine.kernel.contract.BlockRuns.withoutMultiplesOf;
import static ringattn.engine.kernel.contract.KernelTestSupport.assertBelow;
import static ringattn.engine.kernel.contract.KernelTestSupport.gaussian;
import static ringattn.engine.kernel.contract.KernelTestSupport.relError;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.BackwardPass;
import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.ForwardPass;
import ringattn.engine.kernel.KernelOptions;
import ringattn.engine.kernel.Positions;
import ringattn.engine.kernel.contract.KernelTestSupport.Backward;
import ringattn.engine.kernel.contract.KernelTestSupport.Forward;
import ringattn.engine.reference.ReferenceAttention;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;

/**
 * The promises of {@link BlockKernel}, {@link ForwardPass} and {@link BackwardPass}
 * (their javadoc), tested against one implementation per subclass; every numerical result against
 * the independent fp64 reference ({@link ReferenceAttention}). A kernel joins by subclassing with a
 * factory ({@link #create}) and the tolerance it claims ({@link #tolerance}); the CPU kernels (scalar
 * and every Vector API width) and the CUDA kernel on its CPU emulation do.
 *
 * <p>The promises:
 * <ol>
 * <li>a forward pass fed K/V as several uneven blocks in any order gives O and LSE of attention
 *     over all of them — unmasked, causal, sliding window (either kind), packed documents, grouped
 *     query heads, BF16 inputs, non-default scales, queries and keys at non-contiguous global
 *     positions;</li>
 * <li>rows that see no key get O = 0 and LSE = −∞ exactly (and dQ = 0); a block the mask hides
 *     entirely, or an empty one, changes nothing (a NaN in it is never read);</li>
 * <li>a backward pass gives dQ, and adds (never writes) each block's dK and dV into the caller's
 *     accumulators; the gradients also match finite differences of the reference forward;</li>
 * <li>finish writes O and dQ in the output's dtype: the fp32 result, rounded;</li>
 * <li>results repeat bit for bit (same kernel or a new one with the same options);</li>
 * <li>several passes of one kernel may be open at once: interleaved, each gives what it gives
 *     alone;</li>
 * <li>life cycle: a pass refuses update and finish after finish or close with an
 *     {@link IllegalStateException} naming the call; close is idempotent (a second close leaves
 *     passes begun since alone);</li>
 * <li>bad arguments fail with an {@link IllegalArgumentException} whose message starts with the
 *     argument's name, closed tensors with an {@link IllegalStateException} likewise;</li>
 * <li>NaN and infinities propagate as in the reference (README, "NaN and infinities").</li>
 * </ol>
 *
 * <p>Inputs are N(0,1), default scale 1/√D, so scores are O(1), LSE is O(ln S) and O a convex
 * combination of N(0,1) values; shapes are small (at most 257 keys, D = 40 or 33, mostly 4 query
 * heads over 2 K/V heads) and tiles smaller still (16 × 32, two threads), so every update crosses several tiles,
 * tails and, for the CPU backward, several key chunks.
 */
public abstract class BlockKernelContract {
    /**
     * The widest tolerance the contract accepts, forward (absolute) and backward (relative). A wrong
     * mask, a missed rescale or a wrong scale misses the reference by 0.1 to 1 on these inputs (the
     * scalar kernel with its mask skipped in partial tiles: 0.4 to 0.7); a claim near that could
     * hide one.
     */
    public static final double CEILING = 1e-3;

    /**
     * The largest errors a kernel claims against the fp64 reference on this suite's inputs:
     * {@code forward} bounds max |O − O_ref| and max |LSE − LSE_ref| (absolute), {@code backward}
     * bounds max |g − g_ref| / max |g_ref| for each of dQ, dK and dV.
     */
    public record Tolerance(double forward, double backward) {
        /**
         * fp32 accumulation, whatever the order and blocking: on this suite the CPU kernels and the
         * emulated CUDA kernel measured at most 3.4e-6 forward (scale 0.37, whose scores are 2.3×
         * those of 1/√D; a few 1e-7 otherwise) and 2e-6 relative backward (P recomputed in fp32,
         * sums over up to 257 keys or rows). 1e-5 and 1e-4 leave room for other summation orders.
         */
        public static final Tolerance FP32 = new Tolerance(1e-5, 1e-4);

        public Tolerance {
            if (!(forward > 0 && forward <= CEILING)) {
                throw new IllegalArgumentException("forward: tolerance " + forward + " must be in (0, " + CEILING + "]");
            }
            if (!(backward > 0 && backward <= CEILING)) {
                throw new IllegalArgumentException("backward: tolerance " + backward + " must be in (0, " + CEILING + "]");
            }
        }
    }

    /**
     * A new kernel of the implementation under test with {@code options} (threads, tiles); the test
     * closes it.
     */
    protected abstract BlockKernel create(KernelOptions options);

    /** The tolerance this kernel claims (see {@link Tolerance}); at most {@link #CEILING}. */
    protected abstract Tolerance tolerance();

    static final int HEADS = 4;
    static final int KV_HEADS = 2;
    static final int D = 40;
    /** Keys at positions 0..256; the queries of most tests are a shard in the middle (60..179). */
    static final int KEYS = 257;
    static final int Q_FIRST = 60;
    static final int Q_ROWS = 120;
    /** Two threads and small tiles: every update crosses tiles, tails and key chunks. */
    static final KernelOptions OPTIONS = KernelOptions.defaults(2).withTiles(16, 32);

    private BlockKernel kernel() {
        return create(OPTIONS);
    }

    // ---------------------------------------------------------------- forward against the reference

    /** K/V as 5 uneven blocks in shuffled order, the queries a shard at an offset (as a ring rank holds them). */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"none", "causal", "window", "causal+window", "docs", "docs+causal", "docs+window",
        "docs+causal+window"})
    void forwardOverShuffledBlocksMatchesReference(String mask) {
        checkForward(KernelTestSupport.spec(mask, KEYS, D), HEADS, KV_HEADS, D, DType.F32,
                Positions.range(Q_FIRST, Q_ROWS), Positions.range(0, KEYS), runs(KEYS, 5, mask.hashCode()));
    }

    /** One K/V head per query head, two, four (MQA), and a group of three. */
    @ParameterizedTest(name = "heads {0}, kvHeads {1}")
    @CsvSource({"4, 4", "4, 2", "4, 1", "6, 2"})
    void forwardWithGroupedQueryHeadsMatchesReference(int heads, int kvHeads) {
        checkForward(KernelTestSupport.spec("causal", KEYS, D), heads, kvHeads, D, DType.F32,
                Positions.range(Q_FIRST, Q_ROWS), Positions.range(0, KEYS), runs(KEYS, 3, heads * 10 + kvHeads));
    }

    /**
     * BF16 Q, K, V: the reference reads the same rounded values and the kernel widens them exactly
     * and accumulates in fp32, so the claimed tolerance applies unchanged. Head dimension 33 leaves
     * a tail at every vector width.
     */
    @ParameterizedTest(name = "{0}, D={1}")
    @CsvSource({"none, 40", "causal, 33", "docs+window, 33"})
    void forwardWithBf16InputsMatchesReference(String mask, int headDim) {
        checkForward(KernelTestSupport.spec(mask, KEYS, headDim), HEADS, KV_HEADS, headDim, DType.BF16,
                Positions.range(Q_FIRST, Q_ROWS), Positions.range(0, KEYS), runs(KEYS, 4, 17));
    }

    /**
     * Queries and keys at non-contiguous positions (queries at the odd positions 1..279, keys at
     * 0..299 but the multiples of 7, fed as three stripes of rows, the last first): masks are by
     * position, never by row index. Some query rows see no key in some stripes.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"causal", "window", "docs+causal+window"})
    void forwardAtStridedPositionsMatchesReference(String mask) {
        checkForward(KernelTestSupport.spec(mask, 300, D), HEADS, KV_HEADS, D, DType.F32,
                stride(1, 2, 140), withoutMultiplesOf(7, 300), stripes(KEYS, 3));
    }

    /**
     * Softmax scales other than 1/√D, one negative (the largest dot product becomes the smallest
     * score): a kernel that used 1/√D or |scale| misses by O(0.1–1).
     */
    @ParameterizedTest(name = "scale {0}")
    @ValueSource(floats = {0.37f, -0.2f})
    void forwardWithOtherScalesMatchesReference(float scale) {
        checkForward(KernelTestSupport.spec("docs+causal", KEYS, D).withScale(scale), HEADS, KV_HEADS, D, DType.F32,
                Positions.range(Q_FIRST, Q_ROWS), Positions.range(0, KEYS), runs(KEYS, 3, 5));
    }

    /** Forward of random queries at {@code qPos} over random K/V at {@code kPos}, fed as {@code blocks}. */
    private void checkForward(AttentionSpec spec, int heads, int kvHeads, int d, DType dtype, Positions qPos,
                              Positions kPos, int[][] blocks) {
        try (Tensor q = gaussian(qPos.size(), heads, d, dtype, 1);
             Tensor k = gaussian(kPos.size(), kvHeads, d, dtype, 2);
             Tensor v = gaussian(kPos.size(), kvHeads, d, dtype, 3);
             BlockKernel kernel = kernel();
             Forward got = forward(kernel, q, qPos, k, v, kPos, blocks, spec)) {
            ReferenceAttention.Result ref = ReferenceAttention.forward(q, qPos, k, v, kPos, spec);
            double[] e = KernelTestSupport.forwardErrors(ref, got);
            String what = kernel.name() + " " + spec + " " + dtype + " H=" + heads + "/" + kvHeads + " D=" + d
                    + " q at " + describe(qPos) + " k at " + describe(kPos);
            assertBelow(e[0], tolerance().forward(), what + " O");
            assertBelow(e[1], tolerance().forward(), what + " LSE");
        }
    }

    // --------------------------------------------------------------- backward against the reference

    /**
     * dQ, dK, dV of the queries' shard over K/V fed as 5 uneven blocks in shuffled order; O and LSE
     * come from the reference, so the backward is checked on its own.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"none", "causal", "window", "causal+window", "docs", "docs+causal", "docs+window",
        "docs+causal+window"})
    void backwardOverShuffledBlocksMatchesReference(String mask) {
        checkBackward(KernelTestSupport.spec(mask, KEYS, D), HEADS, KV_HEADS, D, DType.F32,
                Positions.range(Q_FIRST, Q_ROWS), Positions.range(0, KEYS), runs(KEYS, 5, mask.hashCode()));
    }

    @ParameterizedTest(name = "heads {0}, kvHeads {1}")
    @CsvSource({"4, 4", "4, 2", "4, 1", "6, 2"})
    void backwardWithGroupedQueryHeadsMatchesReference(int heads, int kvHeads) {
        checkBackward(KernelTestSupport.spec("causal", KEYS, D), heads, kvHeads, D, DType.F32,
                Positions.range(Q_FIRST, Q_ROWS), Positions.range(0, KEYS), runs(KEYS, 3, heads * 10 + kvHeads));
    }

    /** BF16 Q, K, V, dO (the reference reads the same rounded values); D = 33 has a tail at every width. */
    @ParameterizedTest(name = "{0}, D={1}")
    @CsvSource({"none, 40", "causal, 33", "docs+window, 33"})
    void backwardWithBf16InputsMatchesReference(String mask, int headDim) {
        checkBackward(KernelTestSupport.spec(mask, KEYS, headDim), HEADS, KV_HEADS, headDim, DType.BF16,
                Positions.range(Q_FIRST, Q_ROWS), Positions.range(0, KEYS), runs(KEYS, 4, 17));
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"causal", "window", "docs+causal+window"})
    void backwardAtStridedPositionsMatchesReference(String mask) {
        checkBackward(KernelTestSupport.spec(mask, 300, D), HEADS, KV_HEADS, D, DType.F32,
                stride(1, 2, 140), withoutMultiplesOf(7, 300), stripes(KEYS, 3));
    }

    /** dS carries the scale once more than P does: a wrong or absolute scale shows in every gradient. */
    @ParameterizedTest(name = "scale {0}")
    @ValueSource(floats = {0.37f, -0.2f})
    void backwardWithOtherScalesMatchesReference(float scale) {
        checkBackward(KernelTestSupport.spec("docs+causal", KEYS, D).withScale(scale), HEADS, KV_HEADS, D, DType.F32,
                Positions.range(Q_FIRST, Q_ROWS), Positions.range(0, KEYS), runs(KEYS, 3, 5));
    }

    /** Backward of random queries at {@code qPos} over random K/V at {@code kPos}, fed as {@code blocks}. */
    private void checkBackward(AttentionSpec spec, int heads, int kvHeads, int d, DType dtype, Positions qPos,
                               Positions kPos, int[][] blocks) {
        try (Tensor q = gaussian(qPos.size(), heads, d, dtype, 11);
             Tensor k = gaussian(kPos.size(), kvHeads, d, dtype, 12);
             Tensor v = gaussian(kPos.size(), kvHeads, d, dtype, 13);
             Tensor dOut = gaussian(qPos.size(), heads, d, dtype, 14);
             BlockKernel kernel = kernel();
             Backward got = backward(kernel, q, qPos, k, v, kPos, dOut, blocks, spec, null)) {
            ReferenceAttention.Grads ref = ReferenceAttention.backward(q, qPos, k, v, kPos, dOut, spec);
            String what = kernel.name() + " " + spec + " " + dtype + " H=" + heads + "/" + kvHeads + " D=" + d
                    + " q at " + describe(qPos) + " k at " + describe(kPos);
            assertGradients(ref, got, what);
        }
    }

    private void assertGradients(ReferenceAttention.Grads ref, Backward got, String what) {
        assertBelow(relError(ref.dq(), got.dq()), tolerance().backward(), what + " dQ");
        assertBelow(relError(ref.dk(), got.dk()), tolerance().backward(), what + " dK");
        assertBelow(relError(ref.dv(), got.dv()), tolerance().backward(), what + " dV");
    }

    /**
     * dK and dV are added to, never overwritten: accumulators holding earlier values, and two passes
     * (the two halves of the queries, as two ring ranks' shards) adding into the same ones, end as
     * the earlier values plus the gradient of all queries.
     */
    @Test
    void backwardAddsIntoDkAndDv() {
        AttentionSpec spec = KernelTestSupport.spec("docs+causal", KEYS, D);
        int half = KEYS / 2;
        Positions all = Positions.range(0, KEYS);
        try (Tensor q = gaussian(KEYS, HEADS, D, DType.F32, 21);
             Tensor k = gaussian(KEYS, KV_HEADS, D, DType.F32, 22);
             Tensor v = gaussian(KEYS, KV_HEADS, D, DType.F32, 23);
             Tensor dOut = gaussian(KEYS, HEADS, D, DType.F32, 24);
             Tensor earlierK = gaussian(KEYS, KV_HEADS, D, DType.F32, 25);
             Tensor earlierV = gaussian(KEYS, KV_HEADS, D, DType.F32, 26);
             Tensor dK = earlierK.copyAs(DType.F32);
             Tensor dV = earlierV.copyAs(DType.F32);
             BlockKernel kernel = kernel()) {
            int[][] blocks = runs(KEYS, 4, 27);
            int[][] shards = {{half, KEYS - half}, {0, half}};
            for (int[] s : shards) {
                Backward b = backward(kernel, q.tokens(s[0], s[1]), all.slice(s[0], s[1]), k, v, all,
                        dOut.tokens(s[0], s[1]), blocks, spec, new Tensor[] {dK, dV});
                b.dq().close();
            }
            ReferenceAttention.Grads ref = ReferenceAttention.backward(q, all, k, v, all, dOut, spec);
            double[] wantK = ref.dk().clone();
            double[] wantV = ref.dv().clone();
            for (int i = 0; i < wantK.length; i++) {
                wantK[i] += earlierK.getFlat(i);
                wantV[i] += earlierV.getFlat(i);
            }
            assertBelow(relError(wantK, dK), tolerance().backward(), kernel.name() + " dK added to earlier values");
            assertBelow(relError(wantV, dV), tolerance().backward(), kernel.name() + " dV added to earlier values");
        }
    }

    /**
     * Finite differences of L = Σ O∘G through the fp64 reference forward, on a tiny causal GQA case
     * with a non-default scale: an independent check of the gradients' formulas. Central
     * differences with h = 1e-2 have truncation error ≈ 1e-5 relative here, so 2e-3 × max |gradient|
     * separates right from wrong (a sign or a missing term is O(1)) for any kernel within the
     * ceiling.
     */
    @Test
    void backwardMatchesFiniteDifferences() {
        int s = 5;
        int d = 4;
        AttentionSpec spec = AttentionSpec.of(d).withCausal(true).withScale(0.7f);
        try (Tensor q = gaussian(s, 2, d, DType.F32, 41);
             Tensor k = gaussian(s, 1, d, DType.F32, 42);
             Tensor v = gaussian(s, 1, d, DType.F32, 43);
             Tensor g = gaussian(s, 2, d, DType.F32, 44);
             BlockKernel kernel = create(KernelOptions.defaults(1).withTiles(2, 3))) {
            double[][] fd = {numeric(q, q, k, v, g, spec), numeric(k, q, k, v, g, spec), numeric(v, q, k, v, g, spec)};
            Positions pos = Positions.range(0, s);
            try (Backward got = backward(kernel, q, pos, k, v, pos, g, runs(s, 2, 45), spec, null)) {
                Tensor[] grads = {got.dq(), got.dk(), got.dv()};
                String[] names = {"dQ", "dK", "dV"};
                for (int i = 0; i < 3; i++) {
                    assertBelow(relError(fd[i], grads[i]), 2e-3, kernel.name() + " finite differences " + names[i]);
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

    // ------------------------------------------------------------------ rows and blocks that see nothing

    /**
     * Queries of a document that has no key in the block, and queries before every key (causal):
     * those rows get O = 0 and LSE = −∞ exactly (as the reference), whatever {@code out} held, and
     * dQ = 0; the other rows match the reference.
     */
    @Test
    void rowsThatSeeNoKeyGetZeroAndMinusInfinity() {
        AttentionSpec spec = AttentionSpec.of(D).withCausal(true).withDocuments(new long[] {0, 40, 100});
        Positions qPos = Positions.range(30, 60); // document 0 (30..39) and 1 (40..89)
        Positions kPos = Positions.range(50, 30); // keys 50..79, document 1: rows 30..49 see nothing
        try (Tensor q = gaussian(60, HEADS, D, DType.F32, 61);
             Tensor k = gaussian(30, KV_HEADS, D, DType.F32, 62);
             Tensor v = gaussian(30, KV_HEADS, D, DType.F32, 63);
             Tensor dOut = gaussian(60, HEADS, D, DType.F32, 64);
             BlockKernel kernel = kernel();
             Forward got = forward(kernel, q, qPos, k, v, kPos, runs(30, 2, 65), spec, 7f);
             Backward grads = backward(kernel, q, qPos, k, v, kPos, dOut, runs(30, 2, 66), spec, null)) {
            for (int h = 0; h < HEADS; h++) {
                for (int r = 0; r < 60; r++) {
                    boolean sees = qPos.get(r) >= 50;
                    String where = kernel.name() + " row " + qPos.get(r) + " head " + h;
                    assertEquals(sees, got.lse(h * 60 + r) != Float.NEGATIVE_INFINITY, where + ": LSE " + got.lse(h * 60 + r));
                    for (int c = 0; !sees && c < D; c++) {
                        assertEquals(0f, got.out().get(r, h, c), where + ": O");
                        assertEquals(0f, grads.dq().get(r, h, c), where + ": dQ");
                    }
                }
            }
            ReferenceAttention.Result ref = ReferenceAttention.forward(q, qPos, k, v, kPos, spec);
            double[] e = KernelTestSupport.forwardErrors(ref, got);
            assertBelow(e[0], tolerance().forward(), kernel.name() + " O");
            assertBelow(e[1], tolerance().forward(), kernel.name() + " LSE");
            assertGradients(ReferenceAttention.backward(q, qPos, k, v, kPos, dOut, spec), grads, kernel.name());
        }
    }

    /**
     * Blocks that contribute nothing: one the mask hides entirely (in the causal future of every
     * query; its K and V are NaN, which would poison any row that read them) and an empty one,
     * between visible blocks. Forward and backward give the same bytes as without them, and the
     * hidden block's dK/dV rows keep what they held. A pass fed only such blocks ends with every
     * row at O = 0, LSE = −∞.
     */
    @Test
    void hiddenAndEmptyBlocksChangeNothing() {
        AttentionSpec spec = AttentionSpec.of(D).withCausal(true);
        int n = 100;
        Positions qPos = Positions.range(0, n);
        try (Tensor q = gaussian(n, HEADS, D, DType.F32, 71);
             Tensor k = gaussian(n, KV_HEADS, D, DType.F32, 72);
             Tensor v = gaussian(n, KV_HEADS, D, DType.F32, 73);
             Tensor dOut = gaussian(n, HEADS, D, DType.F32, 74);
             Tensor nan = Tensor.allocate(40, KV_HEADS, D, DType.F32);
             Tensor dKHidden = gaussian(40, KV_HEADS, D, DType.F32, 75);
             Tensor dVHidden = gaussian(40, KV_HEADS, D, DType.F32, 76);
             Tensor keptK = dKHidden.copyAs(DType.F32);
             Tensor keptV = dVHidden.copyAs(DType.F32);
             Tensor out = Tensor.allocate(n, HEADS, D, DType.F32);
             Tensor dq = Tensor.allocate(n, HEADS, D, DType.F32);
             Tensor dK = Tensor.allocate(n, KV_HEADS, D, DType.F32);
             Tensor dV = Tensor.allocate(n, KV_HEADS, D, DType.F32);
             Arena arena = Arena.ofShared();
             BlockKernel kernel = kernel()) {
            for (long i = 0; i < nan.elementCount(); i++) {
                nan.setFlat(i, Float.NaN);
            }
            Positions hiddenPos = Positions.range(n + 10, 40);
            Positions pos = Positions.range(0, n);
            MemorySegment lse = arena.allocate(4L * n * HEADS);
            try (ForwardPass pass = kernel.beginForward(q, qPos, spec)) {
                pass.update(k.tokens(60, 40), v.tokens(60, 40), pos.slice(60, 40));
                pass.update(nan, nan, hiddenPos);
                pass.update(k.tokens(0, 0), v.tokens(0, 0), Positions.range(0, 0));
                pass.update(k.tokens(0, 60), v.tokens(0, 60), pos.slice(0, 60));
                pass.finish(out, lse);
            }
            try (Forward without = forward(kernel, q, qPos, k, v, pos, new int[][] {range(60, 100), range(0, 60)},
                    spec)) {
                assertSameBytes(without.out(), out, kernel.name() + " O with a hidden and an empty block");
                assertSameBytes(without.lse(), lse, 4L * n * HEADS, kernel.name() + " LSE with a hidden and an empty block");
            }
            ReferenceAttention.Result ref = ReferenceAttention.forward(q, k, v, spec);
            try (Tensor o = KernelTestSupport.toTensor(ref.out(), n, HEADS, D, DType.F32);
                 BackwardPass pass = kernel.beginBackward(q, qPos, o, dOut, KernelTestSupport.lseSegment(arena, ref.lse()),
                         spec)) {
                pass.update(k.tokens(60, 40), v.tokens(60, 40), pos.slice(60, 40), dK.tokens(60, 40), dV.tokens(60, 40));
                pass.update(nan, nan, hiddenPos, dKHidden, dVHidden);
                pass.update(k.tokens(0, 0), v.tokens(0, 0), Positions.range(0, 0), dK.tokens(0, 0), dV.tokens(0, 0));
                pass.update(k.tokens(0, 60), v.tokens(0, 60), pos.slice(0, 60), dK.tokens(0, 60), dV.tokens(0, 60));
                pass.finish(dq);
            }
            try (Backward without = backward(kernel, q, qPos, k, v, pos, dOut, new int[][] {range(60, 100), range(0, 60)},
                    spec, null)) {
                assertSameBytes(without.dq(), dq, kernel.name() + " dQ with a hidden and an empty block");
                assertSameBytes(without.dk(), dK, kernel.name() + " dK with a hidden and an empty block");
                assertSameBytes(without.dv(), dV, kernel.name() + " dV with a hidden and an empty block");
            }
            assertSameBytes(keptK, dKHidden, kernel.name() + " dK of the hidden block");
            assertSameBytes(keptV, dVHidden, kernel.name() + " dV of the hidden block");

            try (ForwardPass pass = kernel.beginForward(q, qPos, spec)) {
                pass.update(nan, nan, hiddenPos);
                pass.update(k.tokens(0, 0), v.tokens(0, 0), Positions.range(0, 0));
                out.setFlat(0, 7f);
                pass.finish(out, lse);
            }
            for (int i = 0; i < n * HEADS; i++) {
                assertEquals(Float.NEGATIVE_INFINITY, lse.getAtIndex(ValueLayout.JAVA_FLOAT, i),
                        kernel.name() + " LSE " + i + " after hidden blocks only");
            }
            for (long i = 0; i < out.elementCount(); i++) {
                assertEquals(0f, out.getFlat(i), kernel.name() + " O element " + i + " after hidden blocks only");
            }
        }
    }

    // ------------------------------------------------------------------------------- outputs' dtype

    /** O and dQ written into BF16 tensors are the fp32 results rounded to BF16 (nearest, ties to even). */
    @Test
    void finishRoundsIntoTheOutputsDtype() {
        AttentionSpec spec = KernelTestSupport.spec("causal", KEYS, D);
        Positions qPos = Positions.range(Q_FIRST, Q_ROWS);
        Positions kPos = Positions.range(0, KEYS);
        try (Tensor q = gaussian(Q_ROWS, HEADS, D, DType.F32, 81);
             Tensor k = gaussian(KEYS, KV_HEADS, D, DType.F32, 82);
             Tensor v = gaussian(KEYS, KV_HEADS, D, DType.F32, 83);
             Tensor dOut = gaussian(Q_ROWS, HEADS, D, DType.F32, 84);
             Tensor o16 = Tensor.allocate(Q_ROWS, HEADS, D, DType.BF16);
             Tensor dq16 = Tensor.allocate(Q_ROWS, HEADS, D, DType.BF16);
             Arena arena = Arena.ofShared();
             BlockKernel kernel = kernel()) {
            int[][] blocks = runs(KEYS, 3, 85);
            try (Forward f32 = forward(kernel, q, qPos, k, v, kPos, blocks, spec);
                 ForwardPass pass = kernel.beginForward(q, qPos, spec);
                 Tensor want = f32.out().copyAs(DType.BF16)) {
                feed(pass, k, v, kPos, blocks);
                pass.finish(o16, null);
                assertSameBytes(want, o16, kernel.name() + " O as BF16");
            }
            ReferenceAttention.Result ref = ReferenceAttention.forward(q, qPos, k, v, kPos, spec);
            try (Backward f32 = backward(kernel, q, qPos, k, v, kPos, dOut, blocks, spec, null);
                 Tensor o = KernelTestSupport.toTensor(ref.out(), Q_ROWS, HEADS, D, DType.F32);
                 Tensor dK = Tensor.allocate(KEYS, KV_HEADS, D, DType.F32);
                 Tensor dV = Tensor.allocate(KEYS, KV_HEADS, D, DType.F32);
                 BackwardPass pass = kernel.beginBackward(q, qPos, o, dOut, KernelTestSupport.lseSegment(arena, ref.lse()),
                         spec);
                 Tensor want = f32.dq().copyAs(DType.BF16)) {
                for (int[] b : blocks) {
                    int n = b.length;
                    pass.update(k.tokens(b[0], n), v.tokens(b[0], n), kPos.slice(b[0], n), dK.tokens(b[0], n),
                            dV.tokens(b[0], n));
                }
                pass.finish(dq16);
                assertSameBytes(want, dq16, kernel.name() + " dQ as BF16");
            }
        }
    }

    // ---------------------------------------------------------------------- repeatability, passes

    /**
     * Runs with the same options give identical bytes (O, LSE, dQ, dK, dV): three runs on one
     * kernel, from its first call (no warm-up, so JIT tiers differ between runs), and one on a new
     * kernel with the same options.
     */
    @Test
    void resultsRepeatBitForBit() {
        AttentionSpec spec = KernelTestSupport.spec("docs+causal", KEYS, D);
        try (Tensor q = gaussian(KEYS, HEADS, D, DType.F32, 91);
             Tensor k = gaussian(KEYS, KV_HEADS, D, DType.F32, 92);
             Tensor v = gaussian(KEYS, KV_HEADS, D, DType.F32, 93);
             Tensor dOut = gaussian(KEYS, HEADS, D, DType.F32, 94)) {
            int[][] blocks = runs(KEYS, 3, 95);
            byte[][] first;
            String name;
            try (BlockKernel kernel = kernel()) {
                name = kernel.name();
                first = run(kernel, q, k, v, dOut, blocks, spec);
                for (int again = 2; again <= 3; again++) {
                    assertSame(first, run(kernel, q, k, v, dOut, blocks, spec), name + ", run " + again);
                }
            }
            try (BlockKernel another = kernel()) {
                assertSame(first, run(another, q, k, v, dOut, blocks, spec), name + ", a new kernel");
            }
        }
    }

    private static byte[][] run(BlockKernel kernel, Tensor q, Tensor k, Tensor v, Tensor dOut, int[][] blocks,
                                AttentionSpec spec) {
        Positions pos = Positions.range(0, q.tokens());
        try (Forward f = forward(kernel, q, pos, k, v, pos, blocks, spec);
             Backward b = backward(kernel, q, pos, k, v, pos, dOut, blocks, spec, null)) {
            return new byte[][] {bytes(f.out()), f.lse().asSlice(0, 4L * q.tokens() * q.heads()).toArray(ValueLayout.JAVA_BYTE),
                bytes(b.dq()), bytes(b.dk()), bytes(b.dv())};
        }
    }

    private static void assertSame(byte[][] want, byte[][] got, String what) {
        String[] names = {"O", "LSE", "dQ", "dK", "dV"};
        for (int i = 0; i < want.length; i++) {
            assertArrayEquals(want[i], got[i], what + ": " + names[i] + " differs");
        }
    }

    /**
     * Two forward passes (other queries, other masks) and a backward pass of one kernel open at once,
     * their updates interleaved and their finishes in another order: each gives the bytes it gives
     * alone.
     */
    @Test
    void passesOpenAtOnceAreIndependent() {
        AttentionSpec causal = KernelTestSupport.spec("causal", KEYS, D);
        AttentionSpec docs = KernelTestSupport.spec("docs+window", KEYS, D);
        Positions qPos = Positions.range(Q_FIRST, Q_ROWS);
        Positions kPos = Positions.range(0, KEYS);
        try (Tensor q1 = gaussian(Q_ROWS, HEADS, D, DType.F32, 101);
             Tensor q2 = gaussian(Q_ROWS, HEADS, D, DType.F32, 102);
             Tensor k = gaussian(KEYS, KV_HEADS, D, DType.F32, 103);
             Tensor v = gaussian(KEYS, KV_HEADS, D, DType.F32, 104);
             Tensor dOut = gaussian(Q_ROWS, HEADS, D, DType.F32, 105);
             Tensor out1 = Tensor.allocate(Q_ROWS, HEADS, D, DType.F32);
             Tensor out2 = Tensor.allocate(Q_ROWS, HEADS, D, DType.F32);
             Tensor dq = Tensor.allocate(Q_ROWS, HEADS, D, DType.F32);
             Tensor dK = Tensor.allocate(KEYS, KV_HEADS, D, DType.F32);
             Tensor dV = Tensor.allocate(KEYS, KV_HEADS, D, DType.F32);
             Arena arena = Arena.ofShared();
             BlockKernel kernel = kernel()) {
            int[][] blocks = runs(KEYS, 4, 106);
            ReferenceAttention.Result ref = ReferenceAttention.forward(q1, qPos, k, v, kPos, causal);
            MemorySegment lse1 = arena.allocate(4L * Q_ROWS * HEADS);
            MemorySegment lse2 = arena.allocate(4L * Q_ROWS * HEADS);
            try (Tensor o = KernelTestSupport.toTensor(ref.out(), Q_ROWS, HEADS, D, DType.F32);
                 ForwardPass a = kernel.beginForward(q1, qPos, causal);
                 BackwardPass c = kernel.beginBackward(q1, qPos, o, dOut, KernelTestSupport.lseSegment(arena, ref.lse()),
                         causal);
                 ForwardPass b = kernel.beginForward(q2, qPos, docs)) {
                for (int[] blk : blocks) {
                    int n = blk.length;
                    Tensor kb = k.tokens(blk[0], n);
                    Tensor vb = v.tokens(blk[0], n);
                    Positions pb = kPos.slice(blk[0], n);
                    a.update(kb, vb, pb);
                    c.update(kb, vb, pb, dK.tokens(blk[0], n), dV.tokens(blk[0], n));
                    b.update(kb, vb, pb);
                }
                b.finish(out2, lse2);
                c.finish(dq);
                a.finish(out1, lse1);
            }
            try (Forward alone1 = forward(kernel, q1, qPos, k, v, kPos, blocks, causal);
                 Forward alone2 = forward(kernel, q2, qPos, k, v, kPos, blocks, docs);
                 Backward alone3 = backward(kernel, q1, qPos, k, v, kPos, dOut, blocks, causal, null)) {
                long lseBytes = 4L * Q_ROWS * HEADS;
                assertSameBytes(alone1.out(), out1, kernel.name() + " O of the first forward pass");
                assertSameBytes(alone1.lse(), lse1, lseBytes, kernel.name() + " LSE of the first forward pass");
                assertSameBytes(alone2.out(), out2, kernel.name() + " O of the second forward pass");
                assertSameBytes(alone2.lse(), lse2, lseBytes, kernel.name() + " LSE of the second forward pass");
                assertSameBytes(alone3.dq(), dq, kernel.name() + " dQ of the backward pass");
                assertSameBytes(alone3.dk(), dK, kernel.name() + " dK of the backward pass");
                assertSameBytes(alone3.dv(), dV, kernel.name() + " dV of the backward pass");
                double[] e = KernelTestSupport.forwardErrors(ref, alone1);
                assertBelow(e[0], tolerance().forward(), kernel.name() + " O");
            }
        }
    }

    /**
     * Closing a pass again has no effect, also on passes begun since (which may reuse what the first
     * close released): an abandoned forward and backward pass is closed, another begins, the first
     * is closed again, a third begins, and the two open ones, interleaved, give the bytes they give
     * alone.
     */
    @Test
    void closingAPassAgainLeavesLaterPassesAlone() {
        AttentionSpec spec = KernelTestSupport.spec("causal", KEYS, D);
        Positions qPos = Positions.range(Q_FIRST, Q_ROWS);
        Positions kPos = Positions.range(0, KEYS);
        try (Tensor q1 = gaussian(Q_ROWS, HEADS, D, DType.F32, 121);
             Tensor q2 = gaussian(Q_ROWS, HEADS, D, DType.F32, 122);
             Tensor k = gaussian(KEYS, KV_HEADS, D, DType.F32, 123);
             Tensor v = gaussian(KEYS, KV_HEADS, D, DType.F32, 124);
             Tensor dOut = gaussian(Q_ROWS, HEADS, D, DType.F32, 125);
             Tensor out1 = Tensor.allocate(Q_ROWS, HEADS, D, DType.F32);
             Tensor out2 = Tensor.allocate(Q_ROWS, HEADS, D, DType.F32);
             Tensor dq1 = Tensor.allocate(Q_ROWS, HEADS, D, DType.F32);
             Tensor dq2 = Tensor.allocate(Q_ROWS, HEADS, D, DType.F32);
             Tensor dK1 = Tensor.allocate(KEYS, KV_HEADS, D, DType.F32);
             Tensor dV1 = Tensor.allocate(KEYS, KV_HEADS, D, DType.F32);
             Tensor dK2 = Tensor.allocate(KEYS, KV_HEADS, D, DType.F32);
             Tensor dV2 = Tensor.allocate(KEYS, KV_HEADS, D, DType.F32);
             Tensor scratchK = Tensor.allocate(KEYS, KV_HEADS, D, DType.F32);
             Tensor scratchV = Tensor.allocate(KEYS, KV_HEADS, D, DType.F32);
             Arena arena = Arena.ofShared();
             BlockKernel kernel = kernel()) {
            int[][] blocks = runs(KEYS, 3, 126);
            ReferenceAttention.Result ref1 = ReferenceAttention.forward(q1, qPos, k, v, kPos, spec);
            ReferenceAttention.Result ref2 = ReferenceAttention.forward(q2, qPos, k, v, kPos, spec);
            try (Tensor o1 = KernelTestSupport.toTensor(ref1.out(), Q_ROWS, HEADS, D, DType.F32);
                 Tensor o2 = KernelTestSupport.toTensor(ref2.out(), Q_ROWS, HEADS, D, DType.F32)) {
                MemorySegment lse1 = KernelTestSupport.lseSegment(arena, ref1.lse());
                MemorySegment lse2 = KernelTestSupport.lseSegment(arena, ref2.lse());
                ForwardPass abandoned = kernel.beginForward(q2, qPos, spec);
                feed(abandoned, k, v, kPos, blocks);
                abandoned.close();
                BackwardPass abandonedB = kernel.beginBackward(q2, qPos, o2, dOut, lse2, spec);
                abandonedB.update(k, v, kPos, scratchK, scratchV);
                abandonedB.close();
                try (ForwardPass a = kernel.beginForward(q1, qPos, spec);
                     BackwardPass c = kernel.beginBackward(q1, qPos, o1, dOut, lse1, spec)) {
                    abandoned.close();
                    abandonedB.close();
                    try (ForwardPass b = kernel.beginForward(q2, qPos, spec);
                         BackwardPass d = kernel.beginBackward(q2, qPos, o2, dOut, lse2, spec)) {
                        for (int[] blk : blocks) {
                            int n = blk.length;
                            Tensor kb = k.tokens(blk[0], n);
                            Tensor vb = v.tokens(blk[0], n);
                            Positions pb = kPos.slice(blk[0], n);
                            a.update(kb, vb, pb);
                            b.update(kb, vb, pb);
                            c.update(kb, vb, pb, dK1.tokens(blk[0], n), dV1.tokens(blk[0], n));
                            d.update(kb, vb, pb, dK2.tokens(blk[0], n), dV2.tokens(blk[0], n));
                        }
                        a.finish(out1, null);
                        b.finish(out2, null);
                        c.finish(dq1);
                        d.finish(dq2);
                    }
                }
            }
            try (Forward alone1 = forward(kernel, q1, qPos, k, v, kPos, blocks, spec);
                 Forward alone2 = forward(kernel, q2, qPos, k, v, kPos, blocks, spec);
                 Backward alone3 = backward(kernel, q1, qPos, k, v, kPos, dOut, blocks, spec, null);
                 Backward alone4 = backward(kernel, q2, qPos, k, v, kPos, dOut, blocks, spec, null)) {
                String what = kernel.name() + " after closing a pass again: ";
                assertSameBytes(alone1.out(), out1, what + "O of a pass begun before");
                assertSameBytes(alone2.out(), out2, what + "O of a pass begun after");
                assertSameBytes(alone3.dq(), dq1, what + "dQ of a pass begun before");
                assertSameBytes(alone3.dk(), dK1, what + "dK of a pass begun before");
                assertSameBytes(alone3.dv(), dV1, what + "dV of a pass begun before");
                assertSameBytes(alone4.dq(), dq2, what + "dQ of a pass begun after");
                assertSameBytes(alone4.dk(), dK2, what + "dK of a pass begun after");
                assertSameBytes(alone4.dv(), dV2, what + "dV of a pass begun after");
            }
        }
    }

    // ---------------------------------------------------------------------------------- life cycle

    /**
     * A pass refuses update and finish after finish or after close with an
     * {@link IllegalStateException} naming the call and the reason; close is idempotent, before and
     * after finish; a pass closed before finish is abandoned.
     */
    @Test
    void finishedOrClosedPassRefusesCalls() {
        AttentionSpec spec = AttentionSpec.of(16);
        Positions p8 = Positions.range(0, 8);
        try (Tensor q = gaussian(8, 2, 16, DType.F32, 1);
             Tensor k = gaussian(8, 2, 16, DType.F32, 2);
             Tensor out = Tensor.allocate(8, 2, 16, DType.F32);
             Tensor dK = Tensor.allocate(8, 2, 16, DType.F32);
             Tensor dV = Tensor.allocate(8, 2, 16, DType.F32);
             Arena arena = Arena.ofShared();
             BlockKernel kernel = kernel()) {
            MemorySegment lse = arena.allocate(4L * 16);
            ForwardPass f = kernel.beginForward(q, p8, spec);
            f.update(k, k, p8);
            f.finish(out, lse);
            refused("update", "finished", () -> f.update(k, k, p8));
            refused("finish", "finished", () -> f.finish(out, lse));
            f.close();
            f.close();
            refused("update", "closed", () -> f.update(k, k, p8));
            refused("finish", "closed", () -> f.finish(out, lse));

            ForwardPass abandoned = kernel.beginForward(q, p8, spec);
            abandoned.update(k, k, p8);
            abandoned.close();
            abandoned.close();
            refused("update", "closed", () -> abandoned.update(k, k, p8));
            refused("finish", "closed", () -> abandoned.finish(out, lse));

            BackwardPass b = kernel.beginBackward(q, p8, out, q, lse, spec);
            b.update(k, k, p8, dK, dV);
            b.finish(out);
            refused("update", "finished", () -> b.update(k, k, p8, dK, dV));
            refused("finish", "finished", () -> b.finish(out));
            b.close();
            b.close();
            refused("update", "closed", () -> b.update(k, k, p8, dK, dV));
            refused("finish", "closed", () -> b.finish(out));

            BackwardPass abandonedB = kernel.beginBackward(q, p8, out, q, lse, spec);
            abandonedB.update(k, k, p8, dK, dV);
            abandonedB.close();
            abandonedB.close();
            refused("update", "closed", () -> abandonedB.update(k, k, p8, dK, dV));
            refused("finish", "closed", () -> abandonedB.finish(out));

            // the kernel still serves new passes
            try (ForwardPass again = kernel.beginForward(q, p8, spec)) {
                again.update(k, k, p8);
                again.finish(out, lse);
            }
        }
    }

    private static void refused(String call, String reason, Executable executable) {
        IllegalStateException e = assertThrows(IllegalStateException.class, executable, call + " should be refused");
        assertTrue(e.getMessage() != null && e.getMessage().startsWith(call) && e.getMessage().contains(reason),
                "message should name '" + call + "' and say '" + reason + "': " + e.getMessage());
    }

    // ----------------------------------------------------------------------------- argument errors

    /** Null, mis-shaped or mis-sized arguments: an {@link IllegalArgumentException} naming the argument. */
    @Test
    void badArgumentsAreRejectedNamingThem() {
        AttentionSpec spec = AttentionSpec.of(16);
        Positions p8 = Positions.range(0, 8);
        try (Tensor q = gaussian(8, 4, 16, DType.F32, 1);
             Tensor k = gaussian(8, 2, 16, DType.F32, 2);
             Tensor v = gaussian(8, 2, 16, DType.F32, 3);
             Tensor k3 = gaussian(8, 3, 16, DType.F32, 4);
             Tensor kD = gaussian(8, 2, 8, DType.F32, 5);
             Tensor v7 = gaussian(7, 2, 16, DType.F32, 6);
             Tensor qD = gaussian(8, 4, 8, DType.F32, 7);
             Tensor q2 = Tensor.allocate(8, 4, 16, DType.F32);
             Tensor dK = Tensor.allocate(8, 2, 16, DType.F32);
             Tensor dV = Tensor.allocate(8, 2, 16, DType.F32);
             Tensor dBad = Tensor.allocate(8, 2, 8, DType.F32);
             Tensor dBf16 = Tensor.allocate(8, 2, 16, DType.BF16);
             Arena arena = Arena.ofShared();
             BlockKernel kernel = kernel()) {
            MemorySegment lse = arena.allocate(4L * 8 * 4);
            MemorySegment shortLse = arena.allocate(4);
            rejected("q", () -> kernel.beginForward(null, p8, spec));
            rejected("qPositions", () -> kernel.beginForward(q, Positions.range(0, 3), spec));
            rejected("qPositions", () -> kernel.beginForward(q, null, spec));
            rejected("spec", () -> kernel.beginForward(q, p8, null));
            try (ForwardPass pass = kernel.beginForward(q, p8, spec)) {
                rejected("k", () -> pass.update(null, v, p8));
                rejected("v", () -> pass.update(k, null, p8));
                rejected("k", () -> pass.update(kD, v, p8));
                rejected("v", () -> pass.update(k, v7, p8));
                rejected("k", () -> pass.update(k3, k3, p8));
                rejected("kPositions", () -> pass.update(k, v, Positions.range(0, 7)));
                rejected("kPositions", () -> pass.update(k, v, null));
                rejected("out", () -> pass.finish(null, lse));
                rejected("out", () -> pass.finish(qD, lse));
                rejected("lse", () -> pass.finish(q, shortLse));
                pass.update(k, v, p8); // the pass is still usable
                pass.finish(q2, lse);
            }

            rejected("q", () -> kernel.beginBackward(null, p8, q, q, lse, spec));
            rejected("qPositions", () -> kernel.beginBackward(q, Positions.range(0, 7), q, q, lse, spec));
            rejected("spec", () -> kernel.beginBackward(q, p8, q, q, lse, null));
            rejected("out", () -> kernel.beginBackward(q, p8, null, q, lse, spec));
            rejected("out", () -> kernel.beginBackward(q, p8, qD, q, lse, spec));
            rejected("dOut", () -> kernel.beginBackward(q, p8, q, null, lse, spec));
            rejected("dOut", () -> kernel.beginBackward(q, p8, q, k, lse, spec));
            rejected("lse", () -> kernel.beginBackward(q, p8, q, q, null, spec));
            rejected("lse", () -> kernel.beginBackward(q, p8, q, q, shortLse, spec));
            try (BackwardPass pass = kernel.beginBackward(q, p8, q, q, lse, spec)) {
                rejected("k", () -> pass.update(null, v, p8, dK, dV));
                rejected("k", () -> pass.update(k3, k3, p8, dK, dV));
                rejected("v", () -> pass.update(k, v7, p8, dK, dV));
                rejected("kPositions", () -> pass.update(k, v, Positions.range(0, 5), dK, dV));
                rejected("dK", () -> pass.update(k, v, p8, null, dV));
                rejected("dK", () -> pass.update(k, v, p8, dBad, dV));
                rejected("dV", () -> pass.update(k, v, p8, dK, null));
                rejected("dV", () -> pass.update(k, v, p8, dK, dBf16));
                pass.update(k, v, p8, dK, dV); // the pass is still usable
            }
            try (BackwardPass pass = kernel.beginBackward(q, p8, q, q, lse, spec)) {
                rejected("dq", () -> pass.finish(qD));
            }
            try (BackwardPass pass = kernel.beginBackward(q, p8, q, q, lse, spec)) {
                rejected("dq", () -> pass.finish(null));
            }
        }
    }

    /** Closed tensors: an {@link IllegalStateException} naming the argument. */
    @Test
    void closedTensorsAreRefusedNamingThem() {
        AttentionSpec spec = AttentionSpec.of(16);
        Positions p8 = Positions.range(0, 8);
        Tensor closed = gaussian(8, 2, 16, DType.F32, 9);
        Tensor closedQ = gaussian(8, 4, 16, DType.F32, 10);
        closed.close();
        closedQ.close();
        try (Tensor q = gaussian(8, 4, 16, DType.F32, 1);
             Tensor k = gaussian(8, 2, 16, DType.F32, 2);
             Tensor v = gaussian(8, 2, 16, DType.F32, 3);
             Tensor dK = Tensor.allocate(8, 2, 16, DType.F32);
             Tensor dV = Tensor.allocate(8, 2, 16, DType.F32);
             Arena arena = Arena.ofShared();
             BlockKernel kernel = kernel()) {
            MemorySegment lse = arena.allocate(4L * 8 * 4);
            closedTensor("q", () -> kernel.beginForward(closedQ, p8, spec));
            closedTensor("q", () -> kernel.beginBackward(closedQ, p8, q, q, lse, spec));
            closedTensor("out", () -> kernel.beginBackward(q, p8, closedQ, q, lse, spec));
            closedTensor("dOut", () -> kernel.beginBackward(q, p8, q, closedQ, lse, spec));
            try (ForwardPass pass = kernel.beginForward(q, p8, spec)) {
                closedTensor("k", () -> pass.update(closed, v, p8));
                closedTensor("v", () -> pass.update(k, closed, p8));
                pass.update(k, v, p8);
                closedTensor("out", () -> pass.finish(closedQ, lse));
            }
            try (BackwardPass pass = kernel.beginBackward(q, p8, q, q, lse, spec)) {
                closedTensor("k", () -> pass.update(closed, v, p8, dK, dV));
                closedTensor("v", () -> pass.update(k, closed, p8, dK, dV));
                closedTensor("dK", () -> pass.update(k, v, p8, closed, dV));
                closedTensor("dV", () -> pass.update(k, v, p8, dK, closed));
                pass.update(k, v, p8, dK, dV);
                closedTensor("dq", () -> pass.finish(closedQ));
            }
        }
    }

    private static void rejected(String argument, Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call, argument + " should be rejected");
        assertTrue(e.getMessage() != null && e.getMessage().startsWith(argument),
                "message should start with '" + argument + "': " + e.getMessage());
    }

    private static void closedTensor(String argument, Executable call) {
        IllegalStateException e = assertThrows(IllegalStateException.class, call, "closed " + argument + " should be refused");
        assertTrue(e.getMessage() != null && e.getMessage().startsWith(argument),
                "message should start with '" + argument + "': " + e.getMessage());
    }

    // ------------------------------------------------------------------------------ non-finite inputs

    /**
     * NaN and infinities propagate as in the reference (README, "NaN and infinities"): a NaN or +∞ in
     * a visible score makes the row's O and LSE NaN; a NaN the mask hides changes nothing; the other
     * rows match the reference.
     */
    @Test
    void nonFiniteInputsPropagateLikeTheReference() {
        int s = 40;
        int d = 24;
        AttentionSpec spec = AttentionSpec.of(d).withCausal(true);
        try (Tensor q = gaussian(s, 2, d, DType.F32, 111);
             Tensor k = gaussian(s, 1, d, DType.F32, 112);
             Tensor v = gaussian(s, 1, d, DType.F32, 113);
             BlockKernel kernel = create(KernelOptions.defaults(2).withTiles(8, 16))) {
            q.set(3, 0, 5, Float.NaN);                       // row 3, head 0: NaN score against every key
            q.set(7, 1, 0, Float.POSITIVE_INFINITY);         // row 7, head 1: ±∞ scores → NaN
            k.set(20, 0, 2, Float.NaN);                      // key 20: visible to rows ≥ 20 only
            Positions pos = Positions.range(0, s);
            ReferenceAttention.Result ref = ReferenceAttention.forward(q, k, v, spec);
            try (Forward got = forward(kernel, q, pos, k, v, pos, runs(s, 2, 114), spec)) {
                for (int h = 0; h < 2; h++) {
                    for (int i = 0; i < s; i++) {
                        boolean nanRow = i >= 20 || (i == 3 && h == 0) || (i == 7 && h == 1);
                        String where = kernel.name() + " row " + i + " head " + h;
                        assertEquals(nanRow, Double.isNaN(ref.lse(h, i)), "reference " + where);
                        assertEquals(nanRow, Float.isNaN(got.lse(h * s + i)), where + ": LSE " + got.lse(h * s + i));
                        for (int c = 0; c < d; c++) {
                            float o = got.out().get(i, h, c);
                            if (nanRow) {
                                assertTrue(Float.isNaN(o), where + ": O should be NaN, is " + o);
                            } else {
                                assertBelow(KernelTestSupport.diff(ref.out(i, h, c), o), tolerance().forward(), where + " O");
                            }
                        }
                    }
                }
            }
        }
    }
}
