package ringattn.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
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
import org.junit.jupiter.params.provider.ValueSource;
import ringattn.engine.ring.ShardLayout;
import ringattn.engine.tensor.DType;

/** Hugging Face-style model directories: round trip of the tiny model, and clear errors for broken ones. */
class ModelDirectoryTest {
    static final LlamaConfig CONFIG = LlamaConfig.tiny().withLayers(2);
    static InMemoryWeights weights;
    static int[] tokens;

    @TempDir
    Path dir;

    @BeforeAll
    static void setUp() {
        weights = TinyLlama.weights(CONFIG, DType.F32, 3);
        tokens = TinyLlama.randomTokens(29, CONFIG.vocabSize(), 2);
    }

    @AfterAll
    static void tearDown() {
        weights.close();
    }

    /**
     * Write the tiny model (one file, or three shards with an index), load it back memory-mapped:
     * every tensor comes back bit for bit, and the logits agree. Tolerance 1e-5 on the logits, not 0:
     * the weights are identical, but two runs in one JVM may differ by JIT-compiled vs interpreted
     * exp and lane reductions (about 1e-6 measured).
     */
    @ParameterizedTest
    @ValueSource(ints = {1, 3})
    void roundTrip(int shards) throws IOException {
        SafetensorsWeights.write(dir, CONFIG, weights.all(), shards);
        if (shards > 1) {
            assertTrue(Files.exists(dir.resolve("model.safetensors.index.json")));
            assertTrue(Files.exists(dir.resolve("model-00003-of-00003.safetensors")));
        }
        LlamaConfig read = LlamaConfig.read(dir.resolve("config.json"));
        assertEquals(CONFIG, read);
        try (SafetensorsWeights loaded = SafetensorsWeights.open(dir)) {
            for (Weight w : weights.all().values()) {
                Weight back = loaded.get(w.name(), w.shape());
                assertEquals(w.dtype(), back.dtype(), w.name());
                assertEquals(-1L, w.data().mismatch(back.data()), w.name() + ": bytes differ");
            }
            float[][] before = Logits.prefill(LlamaModel.load(CONFIG, weights), tokens, 2, ShardLayout.ZIGZAG);
            float[][] after = Logits.prefill(LlamaModel.load(read, loaded), tokens, 2, ShardLayout.ZIGZAG);
            double diff = Logits.maxAbsDiff(after, before);
            assertTrue(diff <= 1e-5, "max |loaded - in-memory| = " + diff);
        }
    }

    /** BF16 tensors survive the round trip as BF16 (used in place, not widened). */
    @Test
    void bf16RoundTrip() throws IOException {
        try (InMemoryWeights bf16 = TinyLlama.weights(CONFIG.withLayers(1), DType.BF16, 4)) {
            SafetensorsWeights.write(dir, CONFIG.withLayers(1), bf16.all(), 1);
            try (SafetensorsWeights loaded = SafetensorsWeights.open(dir)) {
                Weight w = loaded.get("model.layers.0.mlp.up_proj.weight", CONFIG.intermediateSize(), CONFIG.hiddenSize());
                assertEquals(DType.BF16, w.dtype());
                assertEquals(-1L, w.data().mismatch(bf16.all().get(w.name()).data()));
            }
        }
    }

    private Map<String, Weight> without(String name) {
        Map<String, Weight> m = new LinkedHashMap<>(weights.all());
        m.remove(name);
        return m;
    }

    @Test
    void missingTensorIsNamed() throws IOException {
        String missing = "model.layers.1.mlp.up_proj.weight";
        SafetensorsWeights.write(dir, CONFIG, without(missing), 1);
        try (SafetensorsWeights loaded = SafetensorsWeights.open(dir)) {
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> LlamaModel.load(CONFIG, loaded));
            assertTrue(e.getMessage().contains("'" + missing + "'"), e.getMessage());
            assertTrue(e.getMessage().contains("not found"), e.getMessage());
            assertTrue(e.getMessage().contains(dir.toString()), e.getMessage());
            assertTrue(e.getMessage().contains("model.safetensors"), e.getMessage());
            assertTrue(e.getMessage().contains("[688, 256]"), e.getMessage());
        }
    }

    @Test
    void wrongShapeNamesTensorFileAndBothShapes() throws IOException {
        String name = "model.layers.0.self_attn.k_proj.weight";
        try (InMemoryWeights bad = new InMemoryWeights()) {
            Map<String, Weight> m = new LinkedHashMap<>(weights.all());
            m.put(name, bad.allocate(name, DType.F32, 32, 256)); // 1 K/V head instead of 2
            SafetensorsWeights.write(dir, CONFIG, m, 1);
        }
        try (SafetensorsWeights loaded = SafetensorsWeights.open(dir)) {
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> LlamaModel.load(CONFIG, loaded));
            String msg = e.getMessage();
            assertTrue(msg.contains("'" + name + "'"), msg);
            assertTrue(msg.contains(dir.resolve("model.safetensors").toString()), msg);
            assertTrue(msg.contains("expected shape [64, 256]"), msg);
            assertTrue(msg.contains("got [32, 256]"), msg);
        }
    }

    @Test
    void indexNamingAMissingShardIsAnError() throws IOException {
        SafetensorsWeights.write(dir, CONFIG, weights.all(), 2);
        Files.delete(dir.resolve("model-00002-of-00002.safetensors"));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SafetensorsWeights.open(dir));
        assertTrue(e.getMessage().contains("model-00002-of-00002.safetensors"), e.getMessage());
        assertTrue(e.getMessage().contains("model.safetensors.index.json"), e.getMessage());
    }

    @Test
    void truncatedFileIsAnError() throws IOException {
        SafetensorsWeights.write(dir, CONFIG, weights.all(), 1);
        Path f = dir.resolve("model.safetensors");
        byte[] all = Files.readAllBytes(f);
        Files.write(f, java.util.Arrays.copyOf(all, all.length / 2));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SafetensorsWeights.open(dir));
        assertTrue(e.getMessage().contains(f.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("data_offsets"), e.getMessage());
    }

    @Test
    void configErrorsNameTheKey() throws IOException {
        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"llama\", \"hidden_size\": 256, "
                + "\"num_attention_heads\": 8, \"num_key_value_heads\": 3, \"vocab_size\": 10, \"intermediate_size\": 4, "
                + "\"num_hidden_layers\": 1}");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> LlamaConfig.read(dir.resolve("config.json")));
        assertTrue(e.getMessage().contains("num_key_value_heads"), e.getMessage());
        assertTrue(e.getMessage().contains("config.json"), e.getMessage());
    }

    /** Values and numbers from config.json reach messages cut and on one line. */
    @Test
    void configValuesAreCutInMessages() throws IOException {
        Path config = dir.resolve("config.json");
        for (String hostile : List.of("{\"model_type\": \"" + "x\\n".repeat(100_000) + "\"}",
                "{\"hidden_size\": [" + "1,".repeat(100_000) + "1]}",
                "{\"hidden_size\": " + "9".repeat(1_000_000) + "}")) {
            Files.writeString(config, hostile);
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> LlamaConfig.read(config));
            assertTrue(e.getMessage().length() < 300 && !e.getMessage().contains("\n"), e.getMessage());
        }
    }

    /** JSON null reads as absent: Hugging Face configs write {@code "rope_scaling": null}. */
    @Test
    void nullConfigValuesAreAbsent() throws IOException {
        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"llama\", \"hidden_size\": 256, "
                + "\"num_attention_heads\": 8, \"num_key_value_heads\": null, \"vocab_size\": 10, \"intermediate_size\": 4, "
                + "\"num_hidden_layers\": 1, \"head_dim\": null, \"rope_scaling\": null}");
        LlamaConfig c = LlamaConfig.read(dir.resolve("config.json"));
        assertEquals(8, c.kvHeads());
        assertEquals(32, c.headDim());
        assertNull(c.ropeScaling());
    }

    /** A real Llama-3 style config parses, with head_dim derived and rope_scaling llama3. */
    @Test
    void parsesLlama3Config() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model_type", "llama");
        m.put("hidden_size", 2048L);
        m.put("intermediate_size", 8192L);
        m.put("num_hidden_layers", 16L);
        m.put("num_attention_heads", 32L);
        m.put("num_key_value_heads", 8L);
        m.put("vocab_size", 128256L);
        m.put("rms_norm_eps", 1e-5);
        m.put("rope_theta", 500000.0);
        m.put("tie_word_embeddings", true);
        m.put("rope_scaling", Map.of("rope_type", "llama3", "factor", 32.0, "low_freq_factor", 1.0,
                "high_freq_factor", 4.0, "original_max_position_embeddings", 8192L));
        LlamaConfig c = LlamaConfig.fromMap(m);
        assertEquals(64, c.headDim());
        assertEquals(8, c.kvHeads());
        assertTrue(c.tieWordEmbeddings());
        assertEquals(new LlamaConfig.RopeScaling(32, 1, 4, 8192), c.ropeScaling());
    }
}
