package ringattn.model;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import ringattn.engine.tensor.DType;
import ringattn.io.FileFormatException;
import ringattn.io.GgmlType;
import ringattn.io.Gguf;
import ringattn.io.GgufTensor;

/**
 * The weights of a llama.cpp GGUF file (architecture {@code llama}), memory-mapped, under their
 * Hugging Face names ({@code blk.N.attn_q.weight} is {@code model.layers.N.self_attn.q_proj.weight},
 * {@code output.weight} is {@code lm_head.weight}, absent when the head is tied to
 * {@code token_embd.weight}), with the {@link #config()} and {@link #tokenizer()} its metadata states.
 * GGUF dimensions are ggml's (fastest first); shapes here are row-major, their reverse.
 *
 * <p>Tensor types: F32 and BF16 are used in place, as safetensors weights are. F16 and Q8_0 are
 * dequantized to fp32 when first asked for, into memory this source owns. That is a choice: Q8_0
 * takes 34 bytes per 32 weights (1.06 bytes a weight), fp32 four, so a Q8_0 model costs about 3.8
 * times its file size in memory, against a matmul that would have to widen every block on every
 * use (the model's matmul reads only fp32 and bf16). The alternative was not measured.
 *
 * <p>Query and key rows: llama.cpp's converter stores each head's rows in Meta's interleaved-pair
 * RoPE order, while the model rotates Hugging Face's halves ({@code rotate_half}). On load, each
 * q and k weight is permuted back as Hugging Face's converter does, per head
 * {@code w.reshape(heads, headDim/2, 2, in).transpose(0, 2, 1, 3)} (heads for q, K/V heads for k):
 * row {@code h·d + i·d/2 + j} of the result is GGUF row {@code h·d + 2j + i}. Permuted F32 and BF16
 * tensors are copies; the rest stay in the mapping.
 *
 * <p>Thread-safe; closing unmaps the file and frees the copies, invalidating every weight handed out.
 */
public final class GgufWeights implements WeightSource {
    private final Path file;
    private final Arena arena;
    private final Gguf gguf;
    private final LlamaConfig config;
    private final Map<String, Weight> loaded = new HashMap<>();

    private GgufWeights(Path file, Arena arena, Gguf gguf, LlamaConfig config) {
        this.file = file;
        this.arena = arena;
        this.gguf = gguf;
        this.config = config;
    }

    /**
     * Maps and checks {@code file}: the GGUF header and tensor table, and the llama metadata the
     * config comes from. A {@link ModelFormatException} naming the file and what is wrong otherwise.
     */
    public static GgufWeights open(Path file) {
        Arena arena = Arena.ofShared();
        try {
            Gguf g = Gguf.read(file, arena);
            return new GgufWeights(file, arena, g, GgufConfig.of(g));
        } catch (FileFormatException e) {
            arena.close();
            throw new ModelFormatException(e.getMessage(), e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** The model's hyper-parameters from the {@code llama.*} keys ({@code lm_head} tied when there is no {@code output.weight}). */
    public LlamaConfig config() {
        return config;
    }

    /** {@code llama.context_length}: the context the model was trained for, in tokens, or 0 when the file does not say. */
    public long contextLength() {
        try {
            return Math.max(0, gguf.metadata().integer("llama.context_length", 0));
        } catch (FileFormatException e) {
            throw new ModelFormatException(e.getMessage(), e);
        }
    }

    /** The tokenizer the file describes; a {@link ModelFormatException} when its keys are missing or inconsistent. */
    public TokenizerMetadata tokenizer() {
        return TokenizerMetadata.of(file, gguf.metadata());
    }

    @Override
    public synchronized Weight get(String name, long... expectedShape) {
        String ggufName = GgufNames.of(name);
        GgufTensor t = ggufName == null ? null : gguf.tensors().get(ggufName);
        String what = "tensor '" + name + "' (GGUF '" + ggufName + "')";
        if (t == null) {
            throw new ModelFormatException(what + " not found in " + file + " (expected shape " + Arrays.toString(expectedShape) + ")");
        }
        if (!Arrays.equals(t.shape(), expectedShape)) {
            throw new ModelFormatException(what + " in " + file + ": expected shape " + Arrays.toString(expectedShape)
                    + ", got " + Arrays.toString(t.shape()));
        }
        Weight w = loaded.get(name);
        if (w == null) {
            w = load(name, t, what);
            loaded.put(name, w);
        }
        return w;
    }

    private Weight load(String name, GgufTensor t, String what) {
        int heads = name.endsWith(".self_attn.q_proj.weight") ? config.heads()
                : name.endsWith(".self_attn.k_proj.weight") ? config.kvHeads() : 0;
        long rows = t.rows();
        long rowLength = t.rowLength();
        switch (t.type()) {
            case F32, BF16 -> {
                DType dtype = t.type() == GgmlType.F32 ? DType.F32 : DType.BF16;
                MemorySegment data = gguf.data(t);
                if (heads == 0) {
                    return new Weight(name, file.toString(), dtype, t.shape(), data);
                }
                long rowBytes = rowLength * dtype.byteSize();
                MemorySegment out = allocate(rows * rowBytes);
                for (long r = 0; r < rows; r++) {
                    MemorySegment.copy(data, sourceRow(r, rows, heads) * rowBytes, out, r * rowBytes, rowBytes);
                }
                return new Weight(name, file.toString(), dtype, t.shape(), out);
            }
            case F16, Q8_0 -> {
                MemorySegment out = allocate(4 * rows * rowLength);
                if (heads == 0) {
                    gguf.dequantizeRows(t, 0, rows, out, 0);
                } else {
                    for (long r = 0; r < rows; r++) {
                        gguf.dequantizeRows(t, sourceRow(r, rows, heads), 1, out, 4 * r * rowLength);
                    }
                }
                return new Weight(name, file.toString(), DType.F32, t.shape(), out);
            }
            default -> throw new ModelFormatException(what + " in " + file + ": ggml type " + t.type()
                    + " is not supported (F32, F16, BF16 and Q8_0 are)");
        }
    }

    /**
     * The GGUF row holding Hugging Face row {@code r} of a q or k weight of {@code rows} rows in
     * {@code heads} heads: row {@code h·d + i·d/2 + j} comes from {@code h·d + 2j + i}.
     */
    static long sourceRow(long r, long rows, int heads) {
        long d = rows / heads;
        long h = r / d;
        long within = r % d;
        long i = within / (d / 2);
        long j = within % (d / 2);
        return h * d + 2 * j + i;
    }

    private MemorySegment allocate(long bytes) {
        return arena.allocate(Math.max(4, bytes), 64).asSlice(0, bytes);
    }

    @Override
    public boolean contains(String name) {
        String g = GgufNames.of(name);
        return g != null && gguf.tensors().containsKey(g);
    }

    @Override
    public String description() {
        return file.toString();
    }

    /** Unmaps the file and frees the dequantized and permuted copies. Idempotent. */
    @Override
    public synchronized void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }
}
