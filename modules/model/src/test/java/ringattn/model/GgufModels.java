package ringattn.model;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import ringattn.engine.tensor.DType;
import ringattn.io.GgmlType;
import ringattn.io.GgufValue;
import ringattn.io.GgufWriter;

/**
 * Test helper: writes a model as llama.cpp would, with an independent encoder. Names and ggml
 * dimensions as llama.cpp's, q and k rows permuted into the interleaved-pair order (the inverse of
 * what {@link GgufWeights} undoes), 2-D weights encoded as {@code type} (norms stay F32, as
 * llama.cpp keeps them), and {@link #decoded} gives the weight each encoding stands for.
 */
final class GgufModels {
    private GgufModels() {
    }

    /** The llama metadata of {@code c} and a 4-token vocabulary padded to the model's. */
    static GgufWriter metadata(LlamaConfig c) {
        List<String> tokens = new java.util.ArrayList<>(List.of("<unk>", "<s>", "</s>"));
        while (tokens.size() < c.vocabSize()) {
            tokens.add("t" + tokens.size());
        }
        return new GgufWriter()
                .put("general.architecture", GgufValue.string("llama"))
                .put("llama.context_length", GgufValue.uint32(4096))
                .put("llama.embedding_length", GgufValue.uint32(c.hiddenSize()))
                .put("llama.block_count", GgufValue.uint32(c.layers()))
                .put("llama.feed_forward_length", GgufValue.uint32(c.intermediateSize()))
                .put("llama.rope.dimension_count", GgufValue.uint32(c.headDim()))
                .put("llama.attention.head_count", GgufValue.uint32(c.heads()))
                .put("llama.attention.head_count_kv", GgufValue.uint32(c.kvHeads()))
                .put("llama.attention.layer_norm_rms_epsilon", GgufValue.float32((float) c.rmsNormEps()))
                .put("llama.rope.freq_base", GgufValue.float32((float) c.ropeTheta()))
                .put("tokenizer.ggml.model", GgufValue.string("llama"))
                .put("tokenizer.ggml.tokens", GgufValue.strings(tokens))
                .put("tokenizer.ggml.bos_token_id", GgufValue.uint32(1))
                .put("tokenizer.ggml.eos_token_id", GgufValue.uint32(2));
    }

    /** Adds every weight of {@code weights} (F32, Hugging Face names and order) to {@code w} as {@code type}. */
    static GgufWriter tensors(GgufWriter w, LlamaConfig c, Map<String, Weight> weights, GgmlType type) {
        for (Weight x : weights.values()) {
            String name = GgufNames.of(x.name());
            float[] v = floats(x);
            if (x.name().endsWith("q_proj.weight")) {
                v = interleave(v, x.rows(), x.cols(), c.heads());
            } else if (x.name().endsWith("k_proj.weight")) {
                v = interleave(v, x.rows(), x.cols(), c.kvHeads());
            }
            long[] dims = x.shape().length == 1 ? new long[] {x.cols()} : new long[] {x.cols(), x.rows()};
            GgmlType t = x.shape().length == 1 ? GgmlType.F32 : type;
            w.tensor(name, t, dims, encode(v, t));
        }
        return w;
    }

    static void write(Path file, LlamaConfig c, Map<String, Weight> weights, GgmlType type) {
        tensors(metadata(c), c, weights, type).write(file);
    }

    static float[] floats(Weight w) {
        float[] v = new float[(int) (w.data().byteSize() / w.dtype().byteSize())];
        for (int i = 0; i < v.length; i++) {
            v[i] = w.get(i);
        }
        return v;
    }

    /** Hugging Face (rotate_half) row order to Meta's interleaved pairs: row h·d + 2j + i takes row h·d + i·d/2 + j. */
    static float[] interleave(float[] v, int rows, int cols, int heads) {
        int d = rows / heads;
        float[] out = new float[v.length];
        for (int h = 0; h < heads; h++) {
            for (int j = 0; j < d / 2; j++) {
                for (int i = 0; i < 2; i++) {
                    System.arraycopy(v, (h * d + i * d / 2 + j) * cols, out, (h * d + 2 * j + i) * cols, cols);
                }
            }
        }
        return out;
    }

    /** {@code v} encoded as {@code type}; Q8_0 with llama.cpp's reference rule (scale max|x|/127, round half away). */
    static MemorySegment encode(float[] v, GgmlType type) {
        switch (type) {
            case F32 -> {
                return GgufWriter.f32(v);
            }
            case F16, BF16 -> {
                byte[] b = new byte[2 * v.length];
                for (int i = 0; i < v.length; i++) {
                    short s = type == GgmlType.F16 ? Float.floatToFloat16(v[i]) : DType.floatToBf16(v[i]);
                    b[2 * i] = (byte) s;
                    b[2 * i + 1] = (byte) (s >> 8);
                }
                return GgufWriter.bytes(b);
            }
            case Q8_0 -> {
                byte[] b = new byte[v.length / 32 * 34];
                for (int blk = 0; blk < v.length / 32; blk++) {
                    float amax = 0;
                    for (int i = 0; i < 32; i++) {
                        amax = Math.max(amax, Math.abs(v[blk * 32 + i]));
                    }
                    float d = amax / 127;
                    float id = d != 0 ? 1 / d : 0;
                    short dh = Float.floatToFloat16(d);
                    b[blk * 34] = (byte) dh;
                    b[blk * 34 + 1] = (byte) (dh >> 8);
                    for (int i = 0; i < 32; i++) {
                        float x = v[blk * 32 + i] * id;
                        b[blk * 34 + 2 + i] = (byte) (Math.signum(x) * Math.round(Math.abs(x)));
                    }
                }
                return GgufWriter.bytes(b);
            }
            default -> throw new IllegalArgumentException(type.toString());
        }
    }

    /** What {@code encode(v, type)} stands for, element by element, as fp32. */
    static float[] decoded(float[] v, GgmlType type) {
        MemorySegment e = encode(v, type);
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = switch (type) {
                case F32 -> v[i];
                case F16 -> Float.float16ToFloat(e.get(ringattn.model.linalg.Layouts.BF16_LE, 2L * i));
                case BF16 -> DType.bf16ToFloat(e.get(ringattn.model.linalg.Layouts.BF16_LE, 2L * i));
                case Q8_0 -> {
                    long blk = i / 32 * 34L;
                    yield Float.float16ToFloat(e.get(ringattn.model.linalg.Layouts.BF16_LE, blk))
                            * e.get(java.lang.foreign.ValueLayout.JAVA_BYTE, blk + 2 + i % 32);
                }
                default -> throw new IllegalArgumentException(type.toString());
            };
        }
        return out;
    }
}
