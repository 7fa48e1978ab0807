package ringattn.model;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import ringattn.engine.concurrent.WorkerPool;
import ringattn.engine.device.Devices;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.kernel.BlockKernel;
import ringattn.engine.kernel.KernelOptions;
import ringattn.engine.kernel.Positions;
import ringattn.engine.ring.RingAttention;
import ringattn.engine.ring.RingOptions;
import ringattn.engine.ring.ShardLayout;
import ringattn.engine.transport.InJvmRing;
import ringattn.engine.transport.RingTransport;
import ringattn.io.HeapHighWater;
import ringattn.io.PeakMemory;
import ringattn.model.linalg.MatMul;

/**
 * Generation over a ring: a ring prefill of the prompt that leaves every layer's K/V cache sharded
 * where the ring put it, then token by token a {@link Decoder} step over the sharded cache. Rank 0
 * samples (its {@link Sampler}, seeded) and shares each token id with one all-gather, so every rank
 * feeds the same tokens. One rank ({@link #runRank}, any transport) or all ranks as threads of this
 * JVM ({@link #runLocal}).
 */
public final class Generation {
    private Generation() {
    }

    /**
     * How to generate.
     *
     * @param prefill    threads, layout, timeout and matmul width, as for a prefill
     * @param sampling   how rank 0 picks tokens
     * @param maxNew     most tokens to generate (≥ 0)
     * @param stopTokens generation ends after any of these (not fed back); may be empty
     */
    public record Options(Prefill.Options prefill, Sampler.Options sampling, int maxNew, int[] stopTokens) {
        public Options {
            if (prefill == null || sampling == null) {
                throw new IllegalArgumentException((prefill == null ? "prefill" : "sampling") + ": must not be null");
            }
            if (maxNew < 0) {
                throw new IllegalArgumentException("maxNew: must be >= 0, got " + maxNew);
            }
            stopTokens = stopTokens == null ? new int[0] : stopTokens.clone();
        }

        boolean stops(int token) {
            for (int s : stopTokens) {
                if (s == token) {
                    return true;
                }
            }
            return false;
        }
    }

    /** Receives each generated token on rank 0 as soon as it is chosen (streaming). */
    @FunctionalInterface
    public interface TokenSink {
        void accept(int token);
    }

    /**
     * One rank's outcome (times after a start barrier, seconds).
     *
     * @param rank             rank
     * @param tokens           the generated token ids (the same on every rank)
     * @param prefillSeconds   the prompt's ring prefill
     * @param firstTokenSeconds start to the first generated token (prefill, sharing the last logits, sampling)
     * @param decodeSeconds    every decode step after the first token
     * @param attentionSeconds of which in this rank's attention over its cache shard
     * @param reductionSeconds of which in the cross-rank reduction of attention states
     * @param cachedTokens     tokens in this rank's cache at the end
     * @param peakRssBytes     the process's peak resident set, or -1 when unknown
     * @param heapPeakBytes    the JVM's heap high-water mark
     * @param kernel           the matmul and attention kernel names
     */
    public record RankResult(int rank, int[] tokens, double prefillSeconds, double firstTokenSeconds,
                             double decodeSeconds, double attentionSeconds, double reductionSeconds, int cachedTokens,
                             long peakRssBytes,
                             long heapPeakBytes, String kernel) {
    }

    /** Runs this rank's share of generating from {@code prompt}; collective over {@code transport}. */
    public static RankResult runRank(LlamaModel model, RingTransport transport, int[] prompt, Options options,
                                     TokenSink sink) {
        if (prompt.length == 0) {
            throw new IllegalArgumentException("prompt: must hold at least one token");
        }
        model.checkTokens(prompt);
        LlamaConfig c = model.config();
        Prefill.Options po = options.prefill();
        int world = transport.worldSize();
        int rank = transport.rank();
        int seqLen = prompt.length;
        ShardLayout layout = po.layout();
        int[] counts = new int[world];
        int owner = -1; // the rank holding the prompt's last token, and its local row there
        int ownerRow = -1;
        for (int r = 0; r < world; r++) {
            Positions p = layout.positions(r, world, seqLen);
            counts[r] = p.size();
            int at = Arrays.binarySearch(p.toArray(), seqLen - 1);
            if (at >= 0) {
                owner = r;
                ownerRow = at;
            }
        }
        int capacity = Math.max(Arrays.stream(counts).max().orElse(0),
                (int) Math.min(Integer.MAX_VALUE - 1, ((long) seqLen + options.maxNew() + world - 1) / world)) + 1;
        AttentionSpec spec = AttentionSpec.of(c.headDim()).withCausal(true);
        RingOptions ringOptions = RingOptions.defaults(spec).withLayout(layout).withTimeout(po.timeout())
                .withMinSlotBytes(Decoder.stateBytes(c)) // the decoder's reductions reuse the ring's slots 0 and 1
                .forwardOnly();
        MatMul mm = MatMul.create(po.simdBits());
        Sampler sampler = new Sampler(options.sampling());
        int vocab = c.vocabSize();
        int lastRow = rank == owner ? ownerRow : -1;
        MemorySegment lastLogits = MemorySegment.ofArray(new byte[4 * vocab]);
        try (BlockKernel kernel = Devices.select("cpu", KernelOptions.defaults(po.threads())).kernel();
             RingAttention ring = new RingAttention(transport, kernel, ringOptions);
             WorkerPool pool = new WorkerPool(po.threads(), "ringattn-model-rank-" + rank)) {
            KvCache cache = new KvCache(c.layers(), c.kvHeads(), c.headDim(), capacity);
            try (cache) {
                LlamaModel.LogitsSink keepLast = (first, rows, logits) -> {
                    if (lastRow >= first && lastRow < first + rows) {
                        MemorySegment.copy(logits, 4L * (lastRow - first) * vocab, lastLogits, 0, 4L * vocab);
                    }
                };
                transport.barrier(po.timeout());
                long t0 = System.nanoTime();
                model.forwardShard(ring, prompt, mm, pool, keepLast, cache);
                long t1 = System.nanoTime();
                try (Decoder decoder = new Decoder(model, transport, cache, counts, mm, pool, po.timeout())) {
                    int[] generated = new int[options.maxNew()];
                    int count = 0;
                    long firstToken = t1;
                    if (options.maxNew() > 0) {
                        byte[][] all = transport.allGather(rank == owner ? lastLogits.toArray(ValueLayout.JAVA_BYTE)
                                : new byte[0], po.timeout());
                        MemorySegment logits = MemorySegment.ofArray(all[owner]);
                        int token = decoder.shareToken(rank == 0 ? sampler.sample(logits, vocab) : -1);
                        firstToken = System.nanoTime();
                        while (true) {
                            generated[count++] = token;
                            if (rank == 0 && sink != null) {
                                sink.accept(token);
                            }
                            if (count == options.maxNew() || options.stops(token)) {
                                break;
                            }
                            decoder.step(token, seqLen + count - 1);
                            token = decoder.shareToken(rank == 0 ? sampler.sample(decoder.logits(), vocab) : -1);
                        }
                    }
                    long t2 = System.nanoTime();
                    return new RankResult(rank, Arrays.copyOf(generated, count), (t1 - t0) / 1e9,
                            (firstToken - t0) / 1e9, (t2 - firstToken) / 1e9, decoder.attentionNanos() / 1e9,
                            decoder.reductionNanos() / 1e9,
                            cache.size(), PeakMemory.highWaterBytes(), HeapHighWater.bytes(),
                            mm.name() + "+" + kernel.name());
                }
            }
        }
    }

    /** All {@code ranks} as threads of this JVM (in-JVM ring); results by rank. A rank's failure is rethrown. */
    public static List<RankResult> runLocal(LlamaModel model, int[] prompt, int ranks, Options options, TokenSink sink) {
        model.checkTokens(prompt);
        return InJvmRing.run(ranks, options.prefill().timeout(), t -> runRank(model, t, prompt, options, sink));
    }
}
