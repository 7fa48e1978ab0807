package ringattn.model;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import ringattn.engine.concurrent.WorkerPool;
import ringattn.engine.kernel.Positions;
import ringattn.engine.ring.ForwardResult;
import ringattn.engine.ring.RingAttention;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;
import ringattn.model.linalg.Layouts;
import ringattn.model.linalg.MatMul;
import ringattn.model.linalg.RowOps;

/**
 * A Llama-style decoder bound to its weights: token embedding, per layer RMSNorm → Q/K/V projections
 * → RoPE at global positions → causal GQA ring attention → output projection → residual, RMSNorm →
 * SwiGLU MLP → residual; final RMSNorm and LM head (or the tied embedding).
 *
 * <p>{@link #forwardShard} runs one rank's part of a prefill: the rank holds only the activations of
 * its own tokens (the positions its ring layout gives it), and every layer calls
 * {@link RingAttention#forward}, which brings the other ranks' K/V blocks round. Activations are
 * fp32; weights are used in place (fp32 or bf16). Immutable and thread-safe: ranks running as
 * threads share one model (and its memory-mapped weights).
 */
public final class LlamaModel {
    /** Tokens per chunk of the MLP and the LM head (bounds their scratch memory). */
    static final int CHUNK_TOKENS = 1024;
    /** Bytes of logits computed at a time (a 128k vocabulary gives chunks of 128 rows). */
    static final long LOGITS_CHUNK_BYTES = 64L << 20;

    private final LlamaConfig config;
    private final WeightSource source;
    private final Weight embed;
    private final float[] norm;
    private final Weight lmHead;
    private final Layer[] layers;
    private final Rope rope;

    private record Layer(float[] inputNorm, Weight q, Weight k, Weight v, Weight o, float[] postNorm,
                         Weight gate, Weight up, Weight down) {
    }

    private LlamaModel(LlamaConfig c, WeightSource w) {
        this.config = c;
        this.source = w;
        long hidden = c.hiddenSize();
        this.embed = w.get("model.embed_tokens.weight", c.vocabSize(), hidden);
        this.norm = widen(w.get("model.norm.weight", hidden));
        if (c.tieWordEmbeddings() && !w.contains("lm_head.weight")) {
            this.lmHead = embed;
        } else {
            this.lmHead = w.get("lm_head.weight", c.vocabSize(), hidden);
        }
        this.layers = new Layer[c.layers()];
        for (int l = 0; l < c.layers(); l++) {
            String p = "model.layers." + l + ".";
            layers[l] = new Layer(
                    widen(w.get(p + "input_layernorm.weight", hidden)),
                    w.get(p + "self_attn.q_proj.weight", c.qDim(), hidden),
                    w.get(p + "self_attn.k_proj.weight", c.kvDim(), hidden),
                    w.get(p + "self_attn.v_proj.weight", c.kvDim(), hidden),
                    w.get(p + "self_attn.o_proj.weight", hidden, c.qDim()),
                    widen(w.get(p + "post_attention_layernorm.weight", hidden)),
                    w.get(p + "mlp.gate_proj.weight", c.intermediateSize(), hidden),
                    w.get(p + "mlp.up_proj.weight", c.intermediateSize(), hidden),
                    w.get(p + "mlp.down_proj.weight", hidden, c.intermediateSize()));
        }
        this.rope = Rope.of(c);
    }

    /**
     * Binds {@code config} to {@code weights}, checking every tensor's presence and shape up front
     * (a {@link ModelFormatException} names the first bad one). The model borrows the source.
     */
    public static LlamaModel load(LlamaConfig config, WeightSource weights) {
        return new LlamaModel(config, weights);
    }

    public LlamaConfig config() {
        return config;
    }

    public WeightSource weights() {
        return source;
    }

    /** Receives logits: {@code rows} consecutive local rows starting at local row {@code firstRow}. */
    @FunctionalInterface
    public interface LogitsSink {
        /** {@code logits} holds {@code rows × vocab} fp32 values, valid only during the call. */
        void accept(int firstRow, int rows, MemorySegment logits);
    }

    /** Throws naming the index when a token id is outside the vocabulary. */
    public void checkTokens(int[] tokens) {
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i] < 0 || tokens[i] >= config.vocabSize()) {
                throw new IllegalArgumentException("tokens[" + i + "]: id " + tokens[i] + " outside the vocabulary [0, "
                        + config.vocabSize() + ")");
            }
        }
    }

    /**
     * One rank's prefill of the global sequence {@code tokens}: embeds the tokens at
     * {@code ring.localPositions(tokens.length)}, runs every layer (a collective ring call each) and
     * hands the logits of its rows, in local row order, to {@code sink} (which may be null).
     * Collective: every rank of the ring calls it with the same tokens.
     *
     * @return the time spent inside ring attention, in nanoseconds
     */
    public long forwardShard(RingAttention ring, int[] tokens, MatMul mm, WorkerPool pool, LogitsSink sink) {
        return forwardShard(ring, tokens, mm, pool, sink, null);
    }

    /**
     * As {@link #forwardShard(RingAttention, int[], MatMul, WorkerPool, LogitsSink)}, and when
     * {@code cache} is not null (empty, with room for this rank's tokens) it keeps every layer's K
     * (after RoPE) and V of this rank's tokens there, at the positions the ring left them, for decoding.
     */
    public long forwardShard(RingAttention ring, int[] tokens, MatMul mm, WorkerPool pool, LogitsSink sink,
                             KvCache cache) {
        int seqLen = tokens.length;
        Positions positions = ring.localPositions(seqLen);
        int n = positions.size();
        LlamaConfig c = config;
        int hidden = c.hiddenSize();
        int hd = c.headDim();
        int chunk = Math.max(1, Math.min(CHUNK_TOKENS, n));
        long attentionNanos = 0;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment x = alloc(arena, (long) n * hidden);
            MemorySegment h = alloc(arena, (long) n * hidden);
            MemorySegment q = alloc(arena, (long) n * c.qDim());
            MemorySegment k = alloc(arena, (long) n * c.kvDim());
            MemorySegment v = alloc(arena, (long) n * c.kvDim());
            MemorySegment gate = alloc(arena, (long) chunk * c.intermediateSize());
            MemorySegment up = alloc(arena, (long) chunk * c.intermediateSize());
            embed(tokens, positions, x);
            Rope.Table table = rope.table(positions);
            if (cache != null) {
                cache.startPrefill(positions);
            }
            for (int li = 0; li < layers.length; li++) {
                Layer layer = layers[li];
                rmsNorm(x, h, n, layer.inputNorm());
                mm.multiply(h, n, hidden, layer.q().data(), layer.q().dtype(), c.qDim(), q, pool);
                mm.multiply(h, n, hidden, layer.k().data(), layer.k().dtype(), c.kvDim(), k, pool);
                mm.multiply(h, n, hidden, layer.v().data(), layer.v().dtype(), c.kvDim(), v, pool);
                rope.apply(q, c.heads(), table);
                rope.apply(k, c.kvHeads(), table);
                if (cache != null) {
                    cache.putRows(li, 0, n, k, v);
                }
                long t0 = System.nanoTime();
                try (ForwardResult r = ring.forward(Tensor.wrap(q, n, c.heads(), hd, DType.F32),
                        Tensor.wrap(k, n, c.kvHeads(), hd, DType.F32), Tensor.wrap(v, n, c.kvHeads(), hd, DType.F32), seqLen)) {
                    attentionNanos += System.nanoTime() - t0;
                    mm.multiply(r.out().segment(), n, c.qDim(), layer.o().data(), layer.o().dtype(), hidden, h, pool);
                }
                addInto(x, h, (long) n * hidden);
                for (int c0 = 0; c0 < n; c0 += chunk) {
                    int rows = Math.min(chunk, n - c0);
                    MemorySegment xs = x.asSlice(4L * c0 * hidden, 4L * rows * hidden);
                    MemorySegment hs = h.asSlice(4L * c0 * hidden, 4L * rows * hidden);
                    rmsNorm(xs, hs, rows, layer.postNorm());
                    mm.multiply(hs, rows, hidden, layer.gate().data(), layer.gate().dtype(), c.intermediateSize(), gate, pool);
                    mm.multiply(hs, rows, hidden, layer.up().data(), layer.up().dtype(), c.intermediateSize(), up, pool);
                    siluMul(gate, up, (long) rows * c.intermediateSize());
                    mm.multiply(gate, rows, c.intermediateSize(), layer.down().data(), layer.down().dtype(), hidden, hs, pool);
                    addInto(xs, hs, (long) rows * hidden);
                }
            }
            int headChunk = (int) Math.max(1, Math.min(chunk, LOGITS_CHUNK_BYTES / (4L * c.vocabSize())));
            MemorySegment logits = alloc(arena, (long) headChunk * c.vocabSize());
            for (int c0 = 0; c0 < n; c0 += headChunk) {
                int rows = Math.min(headChunk, n - c0);
                MemorySegment xs = x.asSlice(4L * c0 * hidden, 4L * rows * hidden);
                MemorySegment hs = h.asSlice(4L * c0 * hidden, 4L * rows * hidden);
                rmsNorm(xs, hs, rows, norm);
                mm.multiply(hs, rows, hidden, lmHead.data(), lmHead.dtype(), c.vocabSize(), logits, pool);
                if (sink != null) {
                    sink.accept(c0, rows, logits.asSlice(0, 4L * rows * c.vocabSize()));
                }
            }
        }
        return attentionNanos;
    }

    /**
     * The attention of one new token in one layer, supplied by the decoder (its cache, kernel and
     * the reduction across ranks). Segments are fp32 and valid only during the call.
     */
    @FunctionalInterface
    public interface TokenAttention {
        /**
         * Writes into {@code out} ({@code [heads, headDim]}) the attention of query {@code q}
         * ({@code [heads, headDim]}, RoPE applied) of the new token at layer {@code layer}, whose own
         * key {@code k} and value {@code v} ({@code [kvHeads, headDim]}, RoPE applied to k) it must
         * also see.
         */
        void attend(int layer, MemorySegment q, MemorySegment k, MemorySegment v, MemorySegment out);
    }

    /**
     * The activations of one decoded token, allocated once per decoder and reused for every token
     * ({@link #decode}). Owns its memory; not thread-safe.
     */
    public final class DecodeScratch implements AutoCloseable {
        private final Arena arena = Arena.ofShared();
        final MemorySegment x = alloc(arena, config.hiddenSize());
        final MemorySegment h = alloc(arena, config.hiddenSize());
        final MemorySegment q = alloc(arena, config.qDim());
        final MemorySegment k = alloc(arena, config.kvDim());
        final MemorySegment v = alloc(arena, config.kvDim());
        final MemorySegment attn = alloc(arena, config.qDim());
        final MemorySegment gate = alloc(arena, config.intermediateSize());
        final MemorySegment up = alloc(arena, config.intermediateSize());
        final MemorySegment logits = alloc(arena, config.vocabSize());

        private DecodeScratch() {
        }

        /** The logits of the last {@link #decode}: fp32 {@code [vocab]}. */
        public MemorySegment logits() {
            return logits;
        }

        @Override
        public void close() {
            if (arena.scope().isAlive()) {
                arena.close();
            }
        }
    }

    /** Scratch for {@link #decode}. */
    public DecodeScratch newDecodeScratch() {
        return new DecodeScratch();
    }

    /**
     * One decode step on this rank: the token {@code token} at global position {@code position}
     * through every layer, attention by {@code attention}, logits into {@code scratch.logits()}.
     * The rest of the layer (norms, projections, MLP, LM head) is computed here, on every rank
     * (weights are replicated; a token's activations are small).
     */
    public void decode(int token, int position, TokenAttention attention, MatMul mm, WorkerPool pool,
                       DecodeScratch scratch) {
        LlamaConfig c = config;
        if (token < 0 || token >= c.vocabSize()) {
            throw new IllegalArgumentException("token: id " + token + " outside the vocabulary [0, " + c.vocabSize() + ")");
        }
        int hidden = c.hiddenSize();
        DecodeScratch s = scratch;
        embed(new int[] {token}, Positions.of(0), s.x);
        Rope.Table table = rope.table(Positions.of(position));
        for (int li = 0; li < layers.length; li++) {
            Layer layer = layers[li];
            rmsNorm(s.x, s.h, 1, layer.inputNorm());
            mm.multiply(s.h, 1, hidden, layer.q().data(), layer.q().dtype(), c.qDim(), s.q, pool);
            mm.multiply(s.h, 1, hidden, layer.k().data(), layer.k().dtype(), c.kvDim(), s.k, pool);
            mm.multiply(s.h, 1, hidden, layer.v().data(), layer.v().dtype(), c.kvDim(), s.v, pool);
            rope.apply(s.q, c.heads(), table);
            rope.apply(s.k, c.kvHeads(), table);
            attention.attend(li, s.q, s.k, s.v, s.attn);
            mm.multiply(s.attn, 1, c.qDim(), layer.o().data(), layer.o().dtype(), hidden, s.h, pool);
            addInto(s.x, s.h, hidden);
            rmsNorm(s.x, s.h, 1, layer.postNorm());
            mm.multiply(s.h, 1, hidden, layer.gate().data(), layer.gate().dtype(), c.intermediateSize(), s.gate, pool);
            mm.multiply(s.h, 1, hidden, layer.up().data(), layer.up().dtype(), c.intermediateSize(), s.up, pool);
            siluMul(s.gate, s.up, c.intermediateSize());
            mm.multiply(s.gate, 1, c.intermediateSize(), layer.down().data(), layer.down().dtype(), hidden, s.h, pool);
            addInto(s.x, s.h, hidden);
        }
        rmsNorm(s.x, s.h, 1, norm);
        mm.multiply(s.h, 1, hidden, lmHead.data(), lmHead.dtype(), c.vocabSize(), s.logits, pool);
    }

    /** Norm weights are small: widened once to float[] (from f32 or bf16). */
    private static float[] widen(Weight w) {
        float[] out = new float[(int) w.shape()[0]];
        for (int i = 0; i < out.length; i++) {
            out[i] = w.get(i);
        }
        return out;
    }

    private static MemorySegment alloc(Arena arena, long floats) {
        return arena.allocate(Math.max(4, 4 * floats), 64).asSlice(0, 4 * floats);
    }

    private void embed(int[] tokens, Positions positions, MemorySegment x) {
        int hidden = config.hiddenSize();
        for (int t = 0; t < positions.size(); t++) {
            int id = tokens[positions.get(t)];
            if (id < 0 || id >= config.vocabSize()) {
                throw new IllegalArgumentException("tokens[" + positions.get(t) + "]: id " + id
                        + " outside the vocabulary [0, " + config.vocabSize() + ")");
            }
            long src = (long) id * hidden;
            long dst = (long) t * hidden;
            if (embed.dtype() == DType.F32) {
                MemorySegment.copy(embed.data(), 4 * src, x, 4 * dst, 4L * hidden);
            } else {
                for (int i = 0; i < hidden; i++) {
                    x.setAtIndex(Layouts.F32_LE, dst + i, embed.get(src + i));
                }
            }
        }
    }

    /** {@code out = x / sqrt(mean(x²) + eps) · w} row by row (fp32, as Hugging Face computes it). */
    private void rmsNorm(MemorySegment x, MemorySegment out, int rows, float[] w) {
        RowOps.rmsNorm(x, out, rows, config.hiddenSize(), w, (float) config.rmsNormEps());
    }

    private static void siluMul(MemorySegment gate, MemorySegment up, long count) {
        RowOps.siluMul(gate, up, count);
    }

    private static void addInto(MemorySegment acc, MemorySegment add, long count) {
        RowOps.addInto(acc, add, count);
    }
}
