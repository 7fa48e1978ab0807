package ringattn.model;

import ringattn.io.Gguf;
import ringattn.io.GgufMetadata;
import ringattn.io.GgufTensor;
import ringattn.io.Snippet;

/**
 * A {@link LlamaConfig} from a GGUF file's {@code llama.*} metadata (llama.cpp's keys). Refuses, naming
 * the key, what this model cannot run: another architecture, mixture of experts, RoPE scaling, partial
 * rotary dimensions, K and V of different widths. Stateless.
 */
final class GgufConfig {
    static final String ARCHITECTURE = "general.architecture";
    static final String EMBEDDING = "token_embd.weight";
    static final String OUTPUT = "output.weight";
    /** Per-dimension RoPE frequency factors (llama.cpp's form of Llama 3.1 scaling). */
    static final String ROPE_FREQS = "rope_freqs.weight";

    private GgufConfig() {
    }

    /** The config of {@code g}; a {@link ModelFormatException} naming the file and the key when it cannot be run. */
    static LlamaConfig of(Gguf g) {
        GgufMetadata m = g.metadata();
        String arch = m.string(ARCHITECTURE);
        if (!arch.equals("llama")) {
            throw bad(g, ARCHITECTURE + " is '" + Snippet.of(arch) + "'; only llama is supported");
        }
        if (m.integer("llama.expert_count", 0) > 0) {
            throw bad(g, "llama.expert_count is " + m.integer("llama.expert_count") + ": mixture of experts is not supported");
        }
        String scaling = m.string("llama.rope.scaling.type", "none");
        if (!scaling.equals("none")) {
            throw bad(g, "llama.rope.scaling.type '" + Snippet.of(scaling) + "' is not supported");
        }
        if (g.tensors().containsKey(ROPE_FREQS)) {
            throw bad(g, "tensor " + ROPE_FREQS + " (RoPE frequency factors, Llama 3.1 scaling) is not supported");
        }
        int hidden = positive(g, "llama.embedding_length", -1);
        int heads = positive(g, "llama.attention.head_count", -1);
        int kvHeads = positive(g, "llama.attention.head_count_kv", heads);
        if (!m.has("llama.attention.key_length") && hidden % heads != 0) {
            throw bad(g, "llama.embedding_length " + hidden + " is not a multiple of llama.attention.head_count " + heads);
        }
        int headDim = positive(g, "llama.attention.key_length", hidden / heads);
        if (positive(g, "llama.attention.value_length", headDim) != headDim) {
            throw bad(g, "llama.attention.value_length " + m.integer("llama.attention.value_length")
                    + " differs from the key length " + headDim + "; not supported");
        }
        int ropeDims = positive(g, "llama.rope.dimension_count", headDim);
        if (ropeDims != headDim) {
            throw bad(g, "llama.rope.dimension_count " + ropeDims + " is not the head dimension " + headDim
                    + " (partial rotary embeddings are not supported)");
        }
        int vocab = vocabSize(g);
        int ffn = positive(g, "llama.feed_forward_length", -1);
        int layers = positive(g, "llama.block_count", -1);
        double eps = m.number("llama.attention.layer_norm_rms_epsilon");
        double theta = m.number("llama.rope.freq_base", 10000.0);
        try {
            return new LlamaConfig(vocab, hidden, ffn, layers, heads, kvHeads, headDim, eps, theta, null,
                    !g.tensors().containsKey(OUTPUT));
        } catch (ModelFormatException e) {
            throw bad(g, e.getMessage());
        }
    }

    /** {@code llama.vocab_size}, else the number of {@code tokenizer.ggml.tokens}, else the embedding's rows. */
    private static int vocabSize(Gguf g) {
        GgufMetadata m = g.metadata();
        if (m.has("llama.vocab_size")) {
            return positive(g, "llama.vocab_size", -1);
        }
        if (m.has(TokenizerMetadata.TOKENS)) {
            return (int) Math.min(Integer.MAX_VALUE, m.get(TokenizerMetadata.TOKENS).length());
        }
        GgufTensor embed = g.tensors().get(EMBEDDING);
        if (embed == null || embed.dims().length != 2 || embed.dims()[1] < 1 || embed.dims()[1] > Integer.MAX_VALUE) {
            throw bad(g, "no llama.vocab_size, no " + TokenizerMetadata.TOKENS + " and no 2-D " + EMBEDDING
                    + " to take the vocabulary size from");
        }
        return (int) embed.dims()[1];
    }

    /** The integer {@code key} in [1, 2^31 − 1]; {@code dflt} when absent ({@code dflt < 0}: required). */
    static int positive(Gguf g, String key, int dflt) {
        GgufMetadata m = g.metadata();
        if (dflt >= 0 && !m.has(key)) {
            return dflt;
        }
        long v = m.integer(key);
        if (v < 1 || v > Integer.MAX_VALUE) {
            throw bad(g, "metadata '" + key + "': expected 1 to " + Integer.MAX_VALUE + ", got " + v);
        }
        return (int) v;
    }

    static ModelFormatException bad(Gguf g, String problem) {
        return new ModelFormatException(g.file() + ": " + problem);
    }
}
