package ringattn.model;

import java.util.SplittableRandom;
import ringattn.engine.tensor.DType;

/**
 * The embedded default model: {@link LlamaConfig#tiny()} with seeded random weights (no download),
 * for the demo, the benchmark and the tests. Linear weights are N(0, 1/in), embeddings N(0, 1),
 * norm weights 1 + N(0, 0.1²): activations stay of order one through the layers, so the logits are
 * a sensitive check of every stage.
 */
public final class TinyLlama {
    /** The seed of the default tiny model. */
    public static final long DEFAULT_SEED = 20240601L;

    private TinyLlama() {
    }

    /** The tiny model's weights for {@code config} (any Llama config), stored as {@code dtype}. */
    public static InMemoryWeights weights(LlamaConfig config, DType dtype, long seed) {
        InMemoryWeights w = new InMemoryWeights();
        SplittableRandom rnd = new SplittableRandom(seed);
        int hidden = config.hiddenSize();
        fill(w.allocate("model.embed_tokens.weight", dtype, config.vocabSize(), hidden), rnd, 0, 1);
        for (int l = 0; l < config.layers(); l++) {
            String p = "model.layers." + l + ".";
            fill(w.allocate(p + "input_layernorm.weight", dtype, hidden), rnd, 1, 0.1);
            linear(w, p + "self_attn.q_proj.weight", dtype, config.qDim(), hidden, rnd);
            linear(w, p + "self_attn.k_proj.weight", dtype, config.kvDim(), hidden, rnd);
            linear(w, p + "self_attn.v_proj.weight", dtype, config.kvDim(), hidden, rnd);
            linear(w, p + "self_attn.o_proj.weight", dtype, hidden, config.qDim(), rnd);
            fill(w.allocate(p + "post_attention_layernorm.weight", dtype, hidden), rnd, 1, 0.1);
            linear(w, p + "mlp.gate_proj.weight", dtype, config.intermediateSize(), hidden, rnd);
            linear(w, p + "mlp.up_proj.weight", dtype, config.intermediateSize(), hidden, rnd);
            linear(w, p + "mlp.down_proj.weight", dtype, hidden, config.intermediateSize(), rnd);
        }
        fill(w.allocate("model.norm.weight", dtype, hidden), rnd, 1, 0.1);
        if (!config.tieWordEmbeddings()) {
            linear(w, "lm_head.weight", dtype, config.vocabSize(), hidden, rnd);
        }
        return w;
    }

    /** The default tiny model: {@link LlamaConfig#tiny()}, F32, {@link #DEFAULT_SEED}. */
    public static InMemoryWeights weights() {
        return weights(LlamaConfig.tiny(), DType.F32, DEFAULT_SEED);
    }

    private static void linear(InMemoryWeights w, String name, DType dtype, int out, int in, SplittableRandom rnd) {
        fill(w.allocate(name, dtype, out, in), rnd, 0, 1.0 / Math.sqrt(in));
    }

    private static void fill(Weight w, SplittableRandom rnd, double mean, double std) {
        long n = w.data().byteSize() / w.dtype().byteSize();
        for (long i = 0; i < n; i++) {
            float v = (float) (mean + std * gaussian(rnd));
            if (w.dtype() == DType.F32) {
                w.data().setAtIndex(ringattn.model.linalg.Layouts.F32_LE, i, v);
            } else {
                w.data().setAtIndex(ringattn.model.linalg.Layouts.BF16_LE, i, DType.floatToBf16(v));
            }
        }
    }

    private static double gaussian(SplittableRandom rnd) {
        double u = 1.0 - rnd.nextDouble();
        double v = rnd.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }

    /** {@code count} pseudo-random token ids in {@code [0, vocab)}. */
    public static int[] randomTokens(int count, int vocab, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int[] t = new int[count];
        for (int i = 0; i < count; i++) {
            t[i] = rnd.nextInt(vocab);
        }
        return t;
    }
}
