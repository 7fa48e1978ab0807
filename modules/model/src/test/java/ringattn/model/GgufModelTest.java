package ringattn.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;
import ringattn.engine.ring.ShardLayout;
import ringattn.engine.tensor.DType;
import ringattn.io.GgmlType;
import ringattn.io.GgufValue;
import ringattn.io.GgufWriter;
import ringattn.io.Json;

/**
 * GGUF checkpoints: the real stories260K GGUF against its safetensors twin and its fp64 reference
 * logits; a small model written as llama.cpp writes it, in F32, F16, BF16 and Q8_0; files the model
 * cannot run.
 */
class GgufModelTest {
    static final Path STORIES = PrefillRingTest.STORIES;
    static final Path STORIES_GGUF = STORIES.resolve("stories260K.gguf");
    /** Small, and every row length a multiple of Q8_0's 32; no RoPE scaling (GGUF's is not supported). */
    static final LlamaConfig SMALL = new LlamaConfig(512, 128, 352, 2, 4, 2, 32, 1e-5, 10000.0, null, false);

    static InMemoryWeights weights;

    @TempDir
    Path dir;

    @BeforeAll
    static void setUp() {
        weights = TinyLlama.weights(SMALL, DType.F32, 77);
    }

    @AfterAll
    static void tearDown() {
        weights.close();
    }

    static void assumeStories() {
        assumeTrue(Files.isRegularFile(STORIES_GGUF), "no shared model at " + STORIES_GGUF.toAbsolutePath().normalize()
                + " (../shared/models/stories260K beside the checkout)");
    }

    /** Every tensor a model of {@code c} asks for, with its shape. */
    static Map<String, long[]> shapes(LlamaConfig c) {
        Map<String, long[]> m = new LinkedHashMap<>();
        long h = c.hiddenSize();
        m.put("model.embed_tokens.weight", new long[] {c.vocabSize(), h});
        m.put("model.norm.weight", new long[] {h});
        m.put("lm_head.weight", new long[] {c.vocabSize(), h});
        for (int l = 0; l < c.layers(); l++) {
            String p = "model.layers." + l + ".";
            m.put(p + "input_layernorm.weight", new long[] {h});
            m.put(p + "self_attn.q_proj.weight", new long[] {c.qDim(), h});
            m.put(p + "self_attn.k_proj.weight", new long[] {c.kvDim(), h});
            m.put(p + "self_attn.v_proj.weight", new long[] {c.kvDim(), h});
            m.put(p + "self_attn.o_proj.weight", new long[] {h, c.qDim()});
            m.put(p + "post_attention_layernorm.weight", new long[] {h});
            m.put(p + "mlp.gate_proj.weight", new long[] {c.intermediateSize(), h});
            m.put(p + "mlp.up_proj.weight", new long[] {c.intermediateSize(), h});
            m.put(p + "mlp.down_proj.weight", new long[] {h, c.intermediateSize()});
        }
        return m;
    }

    /**
     * stories260K's GGUF (F32, llama.cpp's layout) gives, under Hugging Face names, exactly the bytes
     * of its safetensors twin, which was converted from it with Hugging Face's q/k permutation; the
     * config from the llama.* keys equals config.json's (ε as the GGUF's float32 holds it; the head is
     * tied in config.json but stored in both).
     */
    @Test
    void storiesWeightsEqualTheSafetensorsAfterThePermutation() throws Exception {
        assumeStories();
        LlamaConfig hf = LlamaConfig.read(STORIES.resolve("config.json"));
        try (GgufWeights g = GgufWeights.open(STORIES_GGUF); SafetensorsWeights st = SafetensorsWeights.open(STORIES)) {
            LlamaConfig c = g.config();
            assertEquals(hf.withTiedEmbeddings(false), new LlamaConfig(c.vocabSize(), c.hiddenSize(), c.intermediateSize(),
                    c.layers(), c.heads(), c.kvHeads(), c.headDim(), hf.rmsNormEps(), c.ropeTheta(), c.ropeScaling(),
                    c.tieWordEmbeddings()));
            assertEquals((float) hf.rmsNormEps(), (float) c.rmsNormEps());
            assertEquals(2048, g.contextLength());
            int permuted = 0;
            for (Map.Entry<String, long[]> e : shapes(hf).entrySet()) {
                String name = e.getKey();
                Weight a = st.get(name, e.getValue());
                Weight b = g.get(name, e.getValue());
                assertEquals(DType.F32, b.dtype(), name);
                assertEquals(-1L, a.data().mismatch(b.data()), name + ": bytes differ");
                permuted += name.contains("q_proj") || name.contains("k_proj") ? 1 : 0;
            }
            assertEquals(10, permuted);
        }
    }

    /** stories260K's tokenizer metadata is its vocab.json (llama2.c's tok512). */
    @Test
    @SuppressWarnings("unchecked")
    void storiesTokenizerMetadata() throws Exception {
        assumeStories();
        Map<String, Object> vocab = (Map<String, Object>) Json.parse(Files.readString(STORIES.resolve("vocab.json")));
        try (GgufWeights g = GgufWeights.open(STORIES_GGUF)) {
            TokenizerMetadata t = g.tokenizer();
            assertEquals("llama", t.model());
            assertEquals(vocab.get("tokens"), t.tokens());
            List<?> scores = (List<?>) vocab.get("scores");
            List<?> types = (List<?>) vocab.get("token_types");
            for (int i = 0; i < t.size(); i++) {
                assertEquals(((Number) scores.get(i)).floatValue(), t.scores()[i], "score " + i);
                assertEquals(((Number) types.get(i)).intValue(), t.types()[i], "type " + i);
            }
            assertEquals(1, t.bosId());
            assertEquals(2, t.eosId());
            assertEquals(0, t.unknownId());
            assertEquals(List.of(), t.merges());
        }
    }

    /**
     * The real model from its GGUF, on one rank and three, against the fp64 NumPy forward shipped
     * with it: the weights are those of the safetensors test in {@link PrefillRingTest} bit for bit, so
     * the same tolerance, 2e-4 absolute on logits up to 22 (measured 1.8e-5; a missing or wrong q/k
     * permutation is off by about 20), and the same argmax at every position; on the Vector API kernels
     * and on the scalar ones (the command line's choice for a job this small).
     */
    @ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({"1, true", "3, true", "1, false", "3, false"})
    void storiesPrefillFromGgufMatchesTheFp64Reference(int ranks, boolean vector) {
        assumeStories();
        int[] greedy = Logits.readTokens(STORIES.resolve("ref/tokens_greedy256.npy"));
        double[][] oracle = Logits.readF64(STORIES.resolve("ref/logits_greedy256_numpy_f64.npy"));
        try (Checkpoint ck = Checkpoint.open(STORIES_GGUF)) {
            assertTrue(ck.weights() instanceof GgufWeights);
            LlamaModel m = LlamaModel.load(ck.config(), ck.weights());
            if (!vector) {
                assertTrue(Prefill.scalarFor(ck.config(), greedy.length, ranks), "the one-shot choice for 256 tokens");
            }
            float[][] ring = Logits.prefill(m, greedy, ranks, ShardLayout.ZIGZAG, vector ? 0 : -1);
            double diff = Logits.maxAbsDiff(ring, oracle);
            System.out.println("stories260K.gguf P=" + ranks + ": max |ring - fp64| = " + diff);
            assertTrue(diff <= 2e-4, "stories260K.gguf P=" + ranks + ": max |ring - fp64| = " + diff);
            for (int t = 0; t < greedy.length; t++) {
                assertEquals(argmax(oracle[t]), argmax(ring[t]), "argmax at position " + t);
            }
        }
    }

    static int argmax(float[] row) {
        int best = 0;
        for (int i = 1; i < row.length; i++) {
            best = row[i] > row[best] ? i : best;
        }
        return best;
    }

    static int argmax(double[] row) {
        int best = 0;
        for (int i = 1; i < row.length; i++) {
            best = row[i] > row[best] ? i : best;
        }
        return best;
    }

    /**
     * A model written as llama.cpp writes it, in each type the reader takes: every weight comes back
     * under its Hugging Face name, in Hugging Face row order, exactly as the encoding stands for it
     * (F32 and BF16 bit for bit, in place unless permuted; F16 and Q8_0 dequantized to F32), and the
     * model on those weights agrees with the fp64 forward on the same weights (1e-4 absolute, the
     * tolerance of {@link PrefillRingTest#agreesWithFp64Forward}).
     */
    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"F32", "F16", "BF16", "Q8_0"})
    void smallModelInEveryTypeLoadsAsWritten(GgmlType type) {
        Path file = dir.resolve("small-" + type + ".gguf");
        GgufModels.write(file, SMALL, weights.all(), type);
        try (GgufWeights g = GgufWeights.open(file)) {
            assertFalse(g.config().tieWordEmbeddings());
            assertEquals(SMALL.qDim(), g.config().qDim());
            for (Weight w : weights.all().values()) {
                Weight back = g.get(w.name(), w.shape());
                GgmlType stored = w.shape().length == 1 ? GgmlType.F32 : type;
                assertEquals(stored == GgmlType.BF16 ? DType.BF16 : DType.F32, back.dtype(), w.name());
                float[] expected = GgufModels.decoded(GgufModels.floats(w), stored);
                assertArrayEquals(expected, GgufModels.floats(back), w.name() + " as " + stored);
            }
            int[] tokens = TinyLlama.randomTokens(23, SMALL.vocabSize(), 4);
            LlamaModel m = LlamaModel.load(g.config(), g);
            double diff = Logits.maxAbsDiff(Logits.prefill(m, tokens, 2, ShardLayout.ZIGZAG), Fp64Llama.logits(g.config(), g, tokens));
            assertTrue(diff <= 1e-4, type + ": max |ring - fp64| = " + diff);
            if (type == GgmlType.F32) {
                float[][] original = Logits.prefill(LlamaModel.load(SMALL, weights), tokens, 2, ShardLayout.ZIGZAG);
                double d = Logits.maxAbsDiff(Logits.prefill(m, tokens, 2, ShardLayout.ZIGZAG), original);
                assertTrue(d <= 1e-5, "F32 GGUF vs the weights it was written from: " + d);
            }
        }
    }

    /** No output.weight: the head is tied to the embedding, as llama.cpp does. */
    @Test
    void noOutputWeightTiesTheHead() {
        Map<String, Weight> all = new LinkedHashMap<>(weights.all());
        all.remove("lm_head.weight");
        Path file = dir.resolve("tied.gguf");
        GgufModels.write(file, SMALL, all, GgmlType.F32);
        try (Checkpoint ck = Checkpoint.open(file)) {
            assertTrue(ck.config().tieWordEmbeddings());
            assertFalse(ck.weights().contains("lm_head.weight"));
            LlamaModel.load(ck.config(), ck.weights());
        }
    }

    ModelFormatException refused(GgufWriter w) {
        Path file = dir.resolve("bad.gguf");
        w.write(file);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> {
            try (Checkpoint ck = Checkpoint.open(file)) {
                LlamaModel.load(ck.config(), ck.weights());
            }
        });
        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        return e;
    }

    static void contains(ModelFormatException e, String expected) {
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    @Test
    void refusesWhatTheModelCannotRun() {
        contains(refused(new GgufWriter().put("general.architecture", GgufValue.string("qwen2"))),
                "general.architecture is 'qwen2'; only llama is supported");
        contains(refused(new GgufWriter()), "metadata 'general.architecture': missing");
        contains(refused(GgufModels.metadata(SMALL).put("llama.rope.scaling.type", GgufValue.string("linear"))),
                "llama.rope.scaling.type 'linear' is not supported");
        contains(refused(GgufModels.metadata(SMALL).put("llama.expert_count", GgufValue.uint32(8))),
                "mixture of experts is not supported");
        contains(refused(GgufModels.metadata(SMALL).put("llama.attention.key_length", GgufValue.uint32(16))),
                "llama.rope.dimension_count 32 is not the head dimension 16");
        contains(refused(GgufModels.metadata(SMALL).tensor("rope_freqs.weight", GgmlType.F32, new long[] {16},
                GgufWriter.f32(new float[16]))), "rope_freqs.weight");

        Map<String, Weight> q4 = new LinkedHashMap<>(weights.all());
        Weight up = q4.remove("model.layers.1.mlp.up_proj.weight");
        GgufWriter w = GgufModels.tensors(GgufModels.metadata(SMALL), SMALL, q4, GgmlType.F32)
                .tensor("blk.1.ffn_up.weight", GgmlType.Q4_0, new long[] {up.cols(), up.rows()},
                        GgufWriter.bytes(new byte[up.rows() * up.cols() / 32 * 18]));
        contains(refused(w), "tensor 'model.layers.1.mlp.up_proj.weight' (GGUF 'blk.1.ffn_up.weight')");
        contains(refused(w), "ggml type Q4_0 is not supported (F32, F16, BF16 and Q8_0 are)");

        Map<String, Weight> missing = new LinkedHashMap<>(weights.all());
        missing.remove("model.layers.0.self_attn.v_proj.weight");
        ModelFormatException e = refused(GgufModels.tensors(GgufModels.metadata(SMALL), SMALL, missing, GgmlType.F32));
        contains(e, "tensor 'model.layers.0.self_attn.v_proj.weight' (GGUF 'blk.0.attn_v.weight') not found");
        contains(e, "[64, 128]");
    }

    /** A wrong llama.* value is named with its key; a block count of 2^40 is not cut to an int. */
    @Test
    void badMetadataValuesNameTheKey() {
        contains(refused(metadataWith("llama.block_count", GgufValue.scalar(ringattn.io.GgufValueType.UINT64, 1L << 40))),
                "metadata 'llama.block_count': expected 1 to 2147483647, got 1099511627776");
        contains(refused(metadataWith("llama.attention.head_count_kv", GgufValue.uint32(3))),
                "num_key_value_heads: 3 does not divide num_attention_heads 4");
        contains(refused(metadataWith("llama.attention.layer_norm_rms_epsilon", GgufValue.string("tiny"))),
                "metadata 'llama.attention.layer_norm_rms_epsilon': expected a number, got string");
    }

    /** {@link GgufModels#metadata} with one key's value replaced. */
    static GgufWriter metadataWith(String key, GgufValue value) {
        GgufWriter w = new GgufWriter();
        ringattn.io.GgufMetadata m = ringattn.io.Gguf.parse(Path.of("m"), java.lang.foreign.MemorySegment.ofArray(
                GgufModels.metadata(SMALL).toBytes())).metadata();
        for (String k : m.keys()) {
            w.put(k, k.equals(key) ? value : m.get(k));
        }
        return w;
    }

    /** Tokenizer arrays that do not match the vocabulary, or ids outside it, are named. */
    @Test
    void inconsistentTokenizerMetadataIsNamed() {
        Path file = dir.resolve("tok.gguf");
        GgufModels.tensors(metadataWith("tokenizer.ggml.eos_token_id", GgufValue.uint32(512))
                .put("tokenizer.ggml.scores", GgufValue.floats(1, 2)), SMALL, weights.all(), GgmlType.F32).write(file);
        try (GgufWeights g = GgufWeights.open(file)) {
            ModelFormatException e = assertThrows(ModelFormatException.class, g::tokenizer);
            contains(e, "metadata 'tokenizer.ggml.scores': 2 entries for 512 tokens");
        }
        GgufModels.tensors(metadataWith("tokenizer.ggml.eos_token_id", GgufValue.uint32(512)), SMALL, weights.all(),
                GgmlType.F32).write(file);
        try (GgufWeights g = GgufWeights.open(file)) {
            contains(assertThrows(ModelFormatException.class, g::tokenizer),
                    "metadata 'tokenizer.ggml.eos_token_id': 512 is outside the 512 tokens");
        }
    }

    /** The q/k row permutation: GGUF row h·d + 2j + i becomes row h·d + i·d/2 + j, per head. */
    @Test
    void sourceRowUndoesTheInterleaving() {
        long[] expected = {0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15};
        for (int r = 0; r < 16; r++) {
            assertEquals(expected[r], GgufWeights.sourceRow(r, 16, 2), "row " + r);
        }
    }

    /** A path that is neither a directory nor a file is named, with what a model is. */
    @Test
    void checkpointOfNothingIsNamed() {
        Path none = dir.resolve("absent");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Checkpoint.open(none));
        contains(e, none + ": no such file or directory");
        contains(assertThrows(ModelFormatException.class, () -> Checkpoint.open(dir)), dir + " has no config.json");
    }
}
