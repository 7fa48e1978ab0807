package ringattn.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import ringattn.engine.ring.ShardLayout;
import ringattn.engine.tensor.DType;

/**
 * The ring prefill of the tiny model: on P ranks it equals one rank, and both agree with an
 * independent fp64 forward; the real stories260K model against its own fp64 NumPy logits.
 */
class PrefillRingTest {
    /** Not divisible by 2, 3 or 4: every layout gives uneven shards. */
    static final int S = 37;

    static LlamaConfig config;
    static InMemoryWeights weights;
    static LlamaModel model;
    static int[] tokens;
    static float[][] single;

    @BeforeAll
    static void setUp() {
        config = LlamaConfig.tiny();
        weights = TinyLlama.weights(config, DType.F32, TinyLlama.DEFAULT_SEED);
        model = LlamaModel.load(config, weights);
        tokens = TinyLlama.randomTokens(S, config.vocabSize(), 11);
        single = Logits.prefill(model, tokens, 1, ShardLayout.ZIGZAG);
    }

    @AfterAll
    static void tearDown() {
        weights.close();
    }

    /**
     * Tolerance 5e-5 absolute on logits of magnitude about 4 (measured differences are about 2e-6):
     * the ranks differ from one rank only in the order the fp32 online softmax merges key blocks
     * (and, between runs, in interpreted vs JIT-compiled exp and lane reductions), each rounding at
     * about 6e-8 relative, amplified a little by four layers; a wrong position, mask or shard would
     * be off by order one. One rank itself is held to fp64 references: {@link #agreesWithFp64Forward}
     * and {@link #realModelAgreesWithItsFp64Logits}.
     */
    /** The one-shot kernel choice: scalar below {@link Prefill#SCALAR_BELOW_FLOPS} per rank. */
    @org.junit.jupiter.api.Test
    void oneShotChoiceTakesTheScalarKernelsForSmallJobsOnly() {
        LlamaConfig c = LlamaConfig.tiny();
        assertTrue(Prefill.scalarFor(c, 64, 1));
        assertTrue(!Prefill.scalarFor(c, 1 << 20, 4), "a million tokens: " + c.prefillFlopsPerRank(1 << 20, 4) + " FLOPs per rank");
        // more ranks, less work each: the choice is per rank
        double one = c.prefillFlopsPerRank(4096, 1);
        assertTrue(Math.abs(c.prefillFlopsPerRank(4096, 4) - one / 4) < 1e-6 * one);
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 3, 4})
    void ranksEqualOneRankWithZigzag(int ranks) {
        float[][] ring = Logits.prefill(model, tokens, ranks, ShardLayout.ZIGZAG);
        double diff = Logits.maxAbsDiff(ring, single);
        System.out.println("P=" + ranks + " zigzag: max |ring - single| = " + diff);
        assertTrue(diff <= 5e-5, "P=" + ranks + ": max |ring - single| = " + diff);
    }

    /** Same tolerance and reason as above; other layouts place tokens differently but the result must not change. */
    @ParameterizedTest
    @ValueSource(strings = {"contiguous", "striped"})
    void otherLayoutsEqualOneRank(String layout) {
        float[][] ring = Logits.prefill(model, tokens, 3, ShardLayout.parse(layout));
        double diff = Logits.maxAbsDiff(ring, single);
        System.out.println("P=3 " + layout + ": max |ring - single| = " + diff);
        assertTrue(diff <= 5e-5, layout + ": max |ring - single| = " + diff);
    }

    /** More ranks than tokens: some ranks hold no token at all and must still take part in every ring step. */
    @Test
    void moreRanksThanTokens() {
        int[] few = {5, 300, 17};
        float[][] one = Logits.prefill(model, few, 1, ShardLayout.ZIGZAG);
        float[][] four = Logits.prefill(model, few, 4, ShardLayout.ZIGZAG);
        assertTrue(Logits.maxAbsDiff(four, one) <= 5e-5, "S=3 on 4 ranks: " + Logits.maxAbsDiff(four, one));
    }

    /**
     * Against the fp64 oracle: tolerance 1e-4 absolute (logits about 4 in magnitude, so 2.5e-5
     * relative; measured about 2e-6). fp32 storage of activations and fp32 dot products of length 256..688 give errors of
     * order 1e-6 relative per operation, compounded over 4 layers of 7 matmuls each; an error in RoPE
     * frequencies, GQA head mapping, norm or SwiGLU gives errors of order one.
     */
    @ParameterizedTest
    @ValueSource(ints = {1, 3})
    void agreesWithFp64Forward(int ranks) {
        double[][] oracle = Fp64Llama.logits(config, weights, tokens);
        float[][] ring = ranks == 1 ? single : Logits.prefill(model, tokens, ranks, ShardLayout.ZIGZAG);
        double diff = Logits.maxAbsDiff(ring, oracle);
        System.out.println("P=" + ranks + ": max |ring - fp64| = " + diff + ", max |logit| = " + Logits.maxAbs(oracle));
        assertTrue(Logits.maxAbs(oracle) > 1, "the logits should not be trivially small");
        assertTrue(diff <= 1e-4, "P=" + ranks + ": max |ring - fp64| = " + diff);
    }

    /** The real trained model beside the project (see its README), when the checkout has it. */
    static final Path STORIES = Path.of("../../../shared/models/stories260K");

    /**
     * A real trained Llama (stories260K: GQA 8/4, head_dim 8, 5 layers, tied LM head) on 256 tokens,
     * one rank and three, against the fp64 NumPy forward shipped with it (an oracle that shares no
     * code with this project). Tolerance 2e-4 absolute on logits up to 22: measured 1.8e-5 (llama.cpp's
     * fp32 forward is within 2.3e-5 of the same reference), so 10× for another vector width or summation
     * order; a RoPE or layout mistake is off by order one (a RoPE θ 1.5× too large: 1.5).
     */
    @ParameterizedTest
    @ValueSource(ints = {1, 3})
    void realModelAgreesWithItsFp64Logits(int ranks) throws Exception {
        assumeTrue(Files.isDirectory(STORIES), "no shared model at " + STORIES.toAbsolutePath().normalize()
                + " (../shared/models/stories260K beside the checkout)");
        LlamaConfig real = LlamaConfig.read(STORIES.resolve("config.json"));
        int[] greedy = Logits.readTokens(STORIES.resolve("ref/tokens_greedy256.npy"));
        double[][] oracle = Logits.readF64(STORIES.resolve("ref/logits_greedy256_numpy_f64.npy"));
        assertEquals(greedy.length, oracle.length);
        try (SafetensorsWeights w = SafetensorsWeights.open(STORIES)) {
            float[][] ring = Logits.prefill(LlamaModel.load(real, w), greedy, ranks, ShardLayout.ZIGZAG);
            double diff = Logits.maxAbsDiff(ring, oracle);
            System.out.println("stories260K P=" + ranks + ": max |ring - fp64| = " + diff + ", max |logit| = "
                    + Logits.maxAbs(oracle));
            assertTrue(diff <= 2e-4, "stories260K P=" + ranks + ": max |ring - fp64| = " + diff);
        }
    }

    /**
     * BF16 weights (used in place, widened in registers) against the fp64 oracle on the same
     * bf16-rounded weights: the weights are exact in both, so the tolerance is the fp32 one above.
     */
    @Test
    void bf16WeightsAgreeWithFp64Forward() {
        LlamaConfig small = config.withLayers(2);
        try (InMemoryWeights bf16 = TinyLlama.weights(small, DType.BF16, 5)) {
            LlamaModel m = LlamaModel.load(small, bf16);
            float[][] ring = Logits.prefill(m, tokens, 2, ShardLayout.ZIGZAG);
            double[][] oracle = Fp64Llama.logits(small, bf16, tokens);
            double diff = Logits.maxAbsDiff(ring, oracle);
            System.out.println("bf16 P=2: max |ring - fp64| = " + diff);
            assertTrue(diff <= 1e-4, "bf16: max |ring - fp64| = " + diff);
        }
    }

    /**
     * Tied embeddings: no lm_head.weight, the LM head is the embedding. The same relative tolerance
     * as the fp64 test (2.5e-5 of the largest logit): the embedding's entries are N(0, 1), not a
     * linear layer's small init, so these logits are several times larger than the others.
     */
    @Test
    void tiedEmbeddings() {
        LlamaConfig tied = config.withLayers(1).withTiedEmbeddings(true);
        try (InMemoryWeights w = TinyLlama.weights(tied, DType.F32, 9)) {
            assertEquals(false, w.contains("lm_head.weight"));
            LlamaModel m = LlamaModel.load(tied, w);
            double[][] oracle = Fp64Llama.logits(tied, w, tokens);
            double diff = Logits.maxAbsDiff(Logits.prefill(m, tokens, 2, ShardLayout.ZIGZAG), oracle);
            double bound = 2.5e-5 * Math.max(4, Logits.maxAbs(oracle));
            System.out.println("tied: max |ring - fp64| = " + diff + ", max |logit| = " + Logits.maxAbs(oracle));
            assertTrue(diff <= bound, "tied: max |ring - fp64| = " + diff + " > " + bound);
        }
    }
}
