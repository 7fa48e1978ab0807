package ringattn.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import ringattn.engine.concurrent.WorkerPool;
import ringattn.engine.device.Devices;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.KernelOptions;
import ringattn.engine.ring.RingAttention;
import ringattn.engine.ring.RingOptions;
import ringattn.engine.ring.ShardLayout;
import ringattn.engine.transport.InJvmRing;
import ringattn.model.linalg.MatMul;

/**
 * Decoding over a sharded K/V cache with the real stories260K model (see its README): greedy
 * generation reproduces llama.cpp's greedy tokens, decode logits agree with the independent fp64
 * NumPy forward, and a P-rank decode equals a one-rank decode.
 */
class GenerationTest {
    static final Path STORIES = PrefillRingTest.STORIES;
    static LlamaConfig config;
    static SafetensorsWeights weights;
    static LlamaModel model;
    static int[] greedy;
    static double[][] oracle;

    @BeforeAll
    static void load() throws Exception {
        assumeTrue(Files.isDirectory(STORIES), "no shared model at " + STORIES.toAbsolutePath().normalize()
                + " (../shared/models/stories260K beside the checkout)");
        config = LlamaConfig.read(STORIES.resolve("config.json"));
        weights = SafetensorsWeights.open(STORIES);
        model = LlamaModel.load(config, weights);
        greedy = Logits.readTokens(STORIES.resolve("ref/tokens_greedy256.npy"));
        oracle = Logits.readF64(STORIES.resolve("ref/logits_greedy256_numpy_f64.npy"));
    }

    @AfterAll
    static void close() {
        if (weights != null) {
            weights.close();
        }
    }

    private static Generation.Options greedyOptions(int maxNew) {
        return new Generation.Options(Prefill.Options.defaults(1), Sampler.Options.greedy(), maxNew, new int[0]);
    }

    /**
     * From BOS alone, greedy decoding reproduces llama.cpp's greedy continuation token for token (255
     * tokens), on one rank and on several, where most ranks start with an empty cache shard.
     */
    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4})
    void greedyFromBosReproducesLlamaCpp(int ranks) {
        List<Integer> streamed = new ArrayList<>();
        List<Generation.RankResult> r = Generation.runLocal(model, new int[] {greedy[0]}, ranks,
                greedyOptions(greedy.length - 1), streamed::add);
        int[] want = Arrays.copyOfRange(greedy, 1, greedy.length);
        for (Generation.RankResult x : r) {
            assertArrayEquals(want, x.tokens(), "rank " + x.rank() + " of " + ranks);
        }
        assertEquals(Arrays.stream(want).boxed().toList(), streamed, "streamed tokens");
        int cached = r.stream().mapToInt(Generation.RankResult::cachedTokens).sum();
        assertEquals(greedy.length - 1, cached, "every token but the last generated one is cached somewhere");
        int most = r.stream().mapToInt(Generation.RankResult::cachedTokens).max().orElseThrow();
        int least = r.stream().mapToInt(Generation.RankResult::cachedTokens).min().orElseThrow();
        assertTrue(most - least <= 1, "shards balanced within one token: " + least + ".." + most);
    }

    /** A longer prompt (uneven zigzag shards), then decoding: the continuation still matches. */
    @ParameterizedTest
    @ValueSource(ints = {1, 3})
    void promptThenGreedyMatches(int ranks) {
        int prompt = 101;
        List<Generation.RankResult> r = Generation.runLocal(model, Arrays.copyOf(greedy, prompt), ranks,
                greedyOptions(greedy.length - prompt), null);
        assertArrayEquals(Arrays.copyOfRange(greedy, prompt, greedy.length), r.get(0).tokens());
    }

    /**
     * Rank 0's logits of every decode step after a ring prefill of the first {@code prompt} reference
     * tokens: step j feeds token j at position j, so its logits predict position j + 1 (row j of the
     * reference).
     */
    static float[][] decodeLogits(int ranks, int prompt) {
        int vocab = config.vocabSize();
        float[][] out = new float[greedy.length - prompt][vocab];
        InJvmRing.run(ranks, Duration.ofSeconds(60), t -> {
            AttentionSpec spec = AttentionSpec.of(config.headDim()).withCausal(true);
            MatMul mm = MatMul.create(0);
            int[] counts = new int[ranks];
            for (int q = 0; q < ranks; q++) {
                counts[q] = ShardLayout.ZIGZAG.positions(q, ranks, prompt).size();
            }
            try (BlockKernel kernel = Devices.select("cpu", KernelOptions.defaults(1)).kernel();
                 RingAttention ring = new RingAttention(t, kernel,
                         RingOptions.defaults(spec).withMinSlotBytes(Decoder.stateBytes(config)));
                 WorkerPool pool = new WorkerPool(1, "test");
                 KvCache cache = new KvCache(config.layers(), config.kvHeads(), config.headDim(), greedy.length)) {
                model.forwardShard(ring, Arrays.copyOf(greedy, prompt), mm, pool, null, cache);
                try (Decoder d = new Decoder(model, t, cache, counts, mm, pool, Duration.ofSeconds(60))) {
                    for (int j = prompt; j < greedy.length; j++) {
                        d.step(greedy[j], j);
                        if (t.rank() == 0) {
                            MemorySegment l = d.logits();
                            for (int c = 0; c < vocab; c++) {
                                out[j - prompt][c] = l.getAtIndex(ValueLayout.JAVA_FLOAT, c);
                            }
                        }
                    }
                }
            }
            return null;
        });
        return out;
    }

    /**
     * Decode logits against the independent fp64 NumPy forward: ≤ 1e-3 absolute (logits up to 22; an
     * fp32 forward lands near 2e-5), the same argmax at every position, on 1 and 3 ranks.
     */
    @ParameterizedTest
    @ValueSource(ints = {1, 3})
    void decodeLogitsAgreeWithFp64(int ranks) {
        int prompt = 40;
        float[][] got = decodeLogits(ranks, prompt);
        double worst = 0;
        for (int i = 0; i < got.length; i++) {
            double[] want = oracle[prompt + i];
            int argWant = 0;
            int argGot = 0;
            for (int c = 0; c < want.length; c++) {
                worst = Math.max(worst, Math.abs(want[c] - got[i][c]));
                argWant = want[c] > want[argWant] ? c : argWant;
                argGot = got[i][c] > got[i][argGot] ? c : argGot;
            }
            assertEquals(argWant, argGot, "argmax at position " + (prompt + i + 1));
        }
        assertTrue(worst <= 1e-3, "P=" + ranks + ": max |decode - fp64| = " + worst);
    }

    /** A P-rank decode (uneven shards, 2 to 4 ranks) equals the one-rank decode to 1e-5 relative. */
    @Test
    void ranksEqualOneRank() {
        int prompt = 37;
        float[][] one = decodeLogits(1, prompt);
        for (int ranks = 2; ranks <= 4; ranks++) {
            float[][] many = decodeLogits(ranks, prompt);
            double worst = 0;
            double scale = 0;
            for (int i = 0; i < one.length; i++) {
                for (int c = 0; c < one[i].length; c++) {
                    worst = Math.max(worst, Math.abs(one[i][c] - many[i][c]));
                    scale = Math.max(scale, Math.abs(one[i][c]));
                }
            }
            assertTrue(worst <= 1e-5 * scale, "P=" + ranks + ": max |P - 1| = " + worst + " for max |logit| " + scale);
        }
    }

    /** The same seed gives the same sampled tokens on every rank count; another seed, others. */
    @Test
    void seededSamplingRepeats() {
        Generation.Options sampled = new Generation.Options(Prefill.Options.defaults(1),
                new Sampler.Options(0.9, 40, 0.95, 1234), 40, new int[0]);
        int[] a = Generation.runLocal(model, new int[] {1}, 1, sampled, null).get(0).tokens();
        int[] b = Generation.runLocal(model, new int[] {1}, 3, sampled, null).get(0).tokens();
        assertArrayEquals(a, b);
        Generation.Options other = new Generation.Options(Prefill.Options.defaults(1),
                new Sampler.Options(0.9, 40, 0.95, 99), 40, new int[0]);
        assertTrue(!Arrays.equals(a, Generation.runLocal(model, new int[] {1}, 1, other, null).get(0).tokens()),
                "another seed should give another story");
    }

    /** Generation ends after a stop token, which is reported but not fed back. */
    @Test
    void stopsAtAStopToken() {
        int stop = greedy[5];
        Generation.Options o = new Generation.Options(Prefill.Options.defaults(1), Sampler.Options.greedy(), 100,
                new int[] {stop});
        int[] got = Generation.runLocal(model, new int[] {1}, 2, o, null).get(0).tokens();
        int first = 1;
        while (greedy[first] != stop) {
            first++;
        }
        assertArrayEquals(Arrays.copyOfRange(greedy, 1, first + 1), got);
    }
}
