package ringattn.model;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import ringattn.io.Json;
import ringattn.io.Snippet;

/**
 * The hyper-parameters of a Llama-style decoder, as in a Hugging Face {@code config.json}.
 *
 * @param vocabSize         tokens in the vocabulary
 * @param hiddenSize        model width
 * @param intermediateSize  SwiGLU MLP width
 * @param layers            decoder layers
 * @param heads             query heads
 * @param kvHeads           key/value heads (GQA: {@code heads % kvHeads == 0})
 * @param headDim           elements per head (even, for RoPE)
 * @param rmsNormEps        RMSNorm epsilon
 * @param ropeTheta         RoPE base θ
 * @param ropeScaling       Llama-3 frequency scaling, or null
 * @param tieWordEmbeddings the LM head reuses the token embedding
 */
public record LlamaConfig(int vocabSize, int hiddenSize, int intermediateSize, int layers, int heads, int kvHeads,
        int headDim, double rmsNormEps, double ropeTheta, RopeScaling ropeScaling, boolean tieWordEmbeddings) {

    /**
     * Llama-3 RoPE frequency scaling ({@code rope_scaling} with {@code rope_type: llama3}).
     *
     * @param factor                        divides the low frequencies
     * @param lowFreqFactor                 wavelengths above {@code original/lowFreqFactor} are scaled
     * @param highFreqFactor                wavelengths below {@code original/highFreqFactor} are kept
     * @param originalMaxPositionEmbeddings the pre-training context length
     */
    public record RopeScaling(double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositionEmbeddings) {
        public RopeScaling {
            if (!(factor > 0) || !(lowFreqFactor > 0) || !(highFreqFactor > lowFreqFactor) || originalMaxPositionEmbeddings < 1) {
                throw new ModelFormatException("rope_scaling: need factor > 0, 0 < low_freq_factor < high_freq_factor and "
                        + "original_max_position_embeddings >= 1, got factor=" + factor + " low_freq_factor=" + lowFreqFactor
                        + " high_freq_factor=" + highFreqFactor + " original_max_position_embeddings=" + originalMaxPositionEmbeddings);
            }
        }
    }

    public LlamaConfig {
        check("vocab_size", vocabSize);
        check("hidden_size", hiddenSize);
        check("intermediate_size", intermediateSize);
        check("num_hidden_layers", layers);
        check("num_attention_heads", heads);
        check("num_key_value_heads", kvHeads);
        check("head_dim", headDim);
        if (heads % kvHeads != 0) {
            throw new ModelFormatException("num_key_value_heads: " + kvHeads + " does not divide num_attention_heads " + heads);
        }
        if (headDim % 2 != 0) {
            throw new ModelFormatException("head_dim: must be even for RoPE, got " + headDim);
        }
        if (!(rmsNormEps > 0)) {
            throw new ModelFormatException("rms_norm_eps: must be > 0, got " + rmsNormEps);
        }
        if (!(ropeTheta > 0)) {
            throw new ModelFormatException("rope_theta: must be > 0, got " + ropeTheta);
        }
    }

    private static void check(String key, int v) {
        if (v < 1) {
            throw new ModelFormatException(key + ": must be >= 1, got " + v);
        }
    }

    /** The embedded tiny model: vocab 512, hidden 256, MLP 688, 4 layers, 8 heads, 2 K/V heads, head dim 32. */
    public static LlamaConfig tiny() {
        return new LlamaConfig(512, 256, 688, 4, 8, 2, 32, 1e-5, 500000.0,
                new RopeScaling(8.0, 1.0, 4.0, 64), false);
    }

    /** The same config with {@code n} layers. */
    public LlamaConfig withLayers(int n) {
        return new LlamaConfig(vocabSize, hiddenSize, intermediateSize, n, heads, kvHeads, headDim, rmsNormEps, ropeTheta,
                ropeScaling, tieWordEmbeddings);
    }

    /** The same config with or without tied embeddings. */
    public LlamaConfig withTiedEmbeddings(boolean tied) {
        return new LlamaConfig(vocabSize, hiddenSize, intermediateSize, layers, heads, kvHeads, headDim, rmsNormEps, ropeTheta,
                ropeScaling, tied);
    }

    /** Query projection width, {@code heads * headDim}. */
    public int qDim() {
        return heads * headDim;
    }

    /** Key/value projection width, {@code kvHeads * headDim}. */
    public int kvDim() {
        return kvHeads * headDim;
    }

    /**
     * Floating-point operations of one rank's share of a causal prefill of {@code seqLen} tokens over
     * {@code ranks} ranks (multiply-add = 2): the dense layers and the LM head for its
     * {@code seqLen / ranks} tokens, and its share of the attention, {@code 2 · S² · qDim} per layer
     * (QKᵀ and PV, half of the pairs visible) over the ranks.
     */
    public double prefillFlopsPerRank(long seqLen, int ranks) {
        double tokens = (double) seqLen / ranks;
        double perToken = 2.0 * ((double) layers * ((double) hiddenSize * qDim() + 2.0 * hiddenSize * kvDim()
                + (double) qDim() * hiddenSize + 3.0 * hiddenSize * intermediateSize) + (double) hiddenSize * vocabSize);
        double attention = 2.0 * layers * (double) seqLen * seqLen * qDim() / ranks;
        return tokens * perToken + attention;
    }

    /** Reads {@code config.json}; errors name the file and the key. */
    public static LlamaConfig read(Path file) throws IOException {
        Object parsed;
        try {
            parsed = Json.parse(Files.readString(file, StandardCharsets.UTF_8));
        } catch (Json.SyntaxException e) {
            throw new ModelFormatException(file + ": " + e.getMessage(), e);
        }
        if (!(parsed instanceof Map<?, ?> m)) {
            throw new ModelFormatException(file + ": not a JSON object");
        }
        try {
            return fromMap(m);
        } catch (ModelFormatException e) {
            throw new ModelFormatException(file + ": " + e.getMessage(), e);
        }
    }

    /** From the parsed {@code config.json} object. */
    public static LlamaConfig fromMap(Map<?, ?> m) {
        Object type = get(m, "model_type");
        if (type != null && !type.equals("llama")) {
            throw new ModelFormatException("model_type: expected llama, got '" + Snippet.of(type) + "'");
        }
        if (get(m, "attention_bias") instanceof Boolean b && b) {
            throw new ModelFormatException("attention_bias: true is not supported (Llama projections have no bias)");
        }
        int hidden = intKey(m, "hidden_size", null);
        int heads = intKey(m, "num_attention_heads", null);
        int kvHeads = intKey(m, "num_key_value_heads", heads);
        int headDim = get(m, "head_dim") == null ? hidden / heads : intKey(m, "head_dim", null);
        if (get(m, "head_dim") == null && hidden % heads != 0) {
            throw new ModelFormatException("head_dim: absent and hidden_size " + hidden + " is not a multiple of num_attention_heads " + heads);
        }
        RopeScaling scaling = null;
        if (get(m, "rope_scaling") instanceof Map<?, ?> rs) {
            Object rt = get(rs, "rope_type") != null ? get(rs, "rope_type") : get(rs, "type");
            String ropeType = rt == null ? "" : rt.toString().toLowerCase(Locale.ROOT);
            if (ropeType.equals("llama3")) {
                scaling = new RopeScaling(doubleKey(rs, "factor", null), doubleKey(rs, "low_freq_factor", 1.0),
                        doubleKey(rs, "high_freq_factor", 4.0), intKey(rs, "original_max_position_embeddings", null));
            } else if (!ropeType.equals("default")) {
                throw new ModelFormatException("rope_scaling.rope_type: only llama3 and default are supported, got '" + Snippet.of(rt) + "'");
            }
        }
        boolean tied = get(m, "tie_word_embeddings") instanceof Boolean b && b;
        return new LlamaConfig(intKey(m, "vocab_size", null), hidden, intKey(m, "intermediate_size", null),
                intKey(m, "num_hidden_layers", null), heads, kvHeads, headDim, doubleKey(m, "rms_norm_eps", 1e-6),
                doubleKey(m, "rope_theta", 10000.0), scaling, tied);
    }

    /** {@code m.get(key)}, with a JSON {@code null} read as absent (HF configs write {@code "rope_scaling": null}). */
    private static Object get(Map<?, ?> m, String key) {
        Object v = m.get(key);
        return v == Json.NULL ? null : v;
    }

    private static int intKey(Map<?, ?> m, String key, Integer dflt) {
        Object v = get(m, key);
        if (v == null) {
            if (dflt == null) {
                throw new ModelFormatException(key + ": missing");
            }
            return dflt;
        }
        if (!(v instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue())
                || n.doubleValue() > Integer.MAX_VALUE || n.doubleValue() < Integer.MIN_VALUE) {
            throw new ModelFormatException(key + ": expected an integer, got " + Snippet.of(v));
        }
        return n.intValue();
    }

    private static double doubleKey(Map<?, ?> m, String key, Double dflt) {
        Object v = get(m, key);
        if (v == null) {
            if (dflt == null) {
                throw new ModelFormatException(key + ": missing");
            }
            return dflt;
        }
        if (!(v instanceof Number n)) {
            throw new ModelFormatException(key + ": expected a number, got " + Snippet.of(v));
        }
        return n.doubleValue();
    }

    /** This config as a Hugging Face {@code config.json}. */
    public String toJson() {
        StringBuilder b = new StringBuilder("{\n");
        b.append("  \"architectures\": [\"LlamaForCausalLM\"],\n  \"model_type\": \"llama\",\n");
        b.append("  \"vocab_size\": ").append(vocabSize).append(",\n");
        b.append("  \"hidden_size\": ").append(hiddenSize).append(",\n");
        b.append("  \"intermediate_size\": ").append(intermediateSize).append(",\n");
        b.append("  \"num_hidden_layers\": ").append(layers).append(",\n");
        b.append("  \"num_attention_heads\": ").append(heads).append(",\n");
        b.append("  \"num_key_value_heads\": ").append(kvHeads).append(",\n");
        b.append("  \"head_dim\": ").append(headDim).append(",\n");
        b.append("  \"rms_norm_eps\": ").append(rmsNormEps).append(",\n");
        b.append("  \"rope_theta\": ").append(ropeTheta).append(",\n");
        if (ropeScaling != null) {
            b.append("  \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": ").append(ropeScaling.factor())
                    .append(", \"low_freq_factor\": ").append(ropeScaling.lowFreqFactor())
                    .append(", \"high_freq_factor\": ").append(ropeScaling.highFreqFactor())
                    .append(", \"original_max_position_embeddings\": ").append(ropeScaling.originalMaxPositionEmbeddings())
                    .append("},\n");
        }
        b.append("  \"tie_word_embeddings\": ").append(tieWordEmbeddings).append("\n}\n");
        return b.toString();
    }
}
