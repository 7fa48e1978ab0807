package ringattn.model;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
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
 * Runs a prefill over a ring: one rank ({@link #runRank}, with any transport) or all ranks as threads
 * of this JVM ({@link #runLocal}). Logits go straight into a caller-provided fp32 {@code [S, vocab]}
 * segment (for example a memory-mapped .npy file) at the rows of each rank's global positions.
 */
public final class Prefill {
    private Prefill() {
    }

    /**
     * How to run.
     *
     * @param threads worker threads per rank (matmuls and the attention kernel)
     * @param layout  how tokens are sharded (zigzag balances causal work)
     * @param timeout bound on any wait for another rank
     * @param simdBits kernel width: 0 automatic (the Vector API kernels where the JVM has them), -1
     *                 scalar (matmul and attention kernel), 128/256/512 the Vector API matmul of that
     *                 width. A one-shot job too small to repay the vector code's JIT warm-up is faster
     *                 with −1 ({@link #scalarFor}); a process that runs many prefills is not
     * @param crashRank failure drill: this rank fails right after the start barrier (-1: none)
     */
    public record Options(int threads, ShardLayout layout, Duration timeout, int simdBits, int crashRank) {
        public Options(int threads, ShardLayout layout, Duration timeout, int simdBits) {
            this(threads, layout, timeout, simdBits, -1);
        }

        public Options {
            if (threads < 1) {
                throw new IllegalArgumentException("threads: must be >= 1, got " + threads);
            }
            if (layout == null) {
                throw new IllegalArgumentException("layout: must not be null");
            }
            if (timeout == null || timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("timeout: must be positive, got " + timeout);
            }
        }

        /** {@code threads} per rank, zigzag, 120 s timeout, automatic kernel width. */
        public static Options defaults(int threads) {
            return new Options(threads, ShardLayout.ZIGZAG, Duration.ofSeconds(120), 0);
        }

        public Options withLayout(ShardLayout l) {
            return new Options(threads, l, timeout, simdBits, crashRank);
        }

        public Options withSimdBits(int bits) {
            return new Options(threads, layout, timeout, bits, crashRank);
        }

        public Options withCrashRank(int rank) {
            return new Options(threads, layout, timeout, simdBits, rank);
        }
    }

    /**
     * One rank's outcome.
     *
     * @param rank             rank
     * @param tokens           tokens this rank held
     * @param seconds          wall time of its forward (after a start barrier)
     * @param attentionSeconds of which inside ring attention
     * @param peakRssBytes     the process's peak resident set (VmHWM), or -1 when unknown
     * @param heapPeakBytes    the JVM's heap high-water mark ({@link HeapHighWater}), bytes
     * @param kernel           the matmul kernel and attention kernel names
     */
    public record RankResult(int rank, int tokens, double seconds, double attentionSeconds, long peakRssBytes, long heapPeakBytes,
                             String kernel) {
    }

    /**
     * Below this many floating-point operations per rank ({@link LlamaConfig#prefillFlopsPerRank}), a
     * prefill in a fresh JVM is faster on the scalar kernels ({@link #scalarFor}): until C2 has
     * compiled the Vector API code, every vector operation runs interpreted as an allocated object,
     * which costs a short job more than the vector code saves it. The crossover was measured between
     * 1.2 and 3.7 GFLOP (README, "Cold start and memory").
     */
    public static final double SCALAR_BELOW_FLOPS = 2.0e9;

    /**
     * Whether a one-shot prefill (a fresh JVM per rank, as a batch job runs) of {@code seqLen} tokens
     * over {@code ranks} ranks should run the scalar kernels: when it is below
     * {@link #SCALAR_BELOW_FLOPS} per rank and neither {@code ringattn.kernel} nor
     * {@code ringattn.model.simd} names a kernel (they win). The command line's {@code prefill} asks.
     */
    public static boolean scalarFor(LlamaConfig c, long seqLen, int ranks) {
        if (named("ringattn.kernel") || named("ringattn.model.simd")) {
            return false;
        }
        return c.prefillFlopsPerRank(seqLen, ranks) < SCALAR_BELOW_FLOPS;
    }

    private static boolean named(String property) {
        String v = System.getProperty(property);
        return v != null && !v.isBlank() && !v.trim().equalsIgnoreCase("auto");
    }

    /** Runs this rank's share of the prefill of {@code tokens}; collective over {@code transport}. */
    public static RankResult runRank(LlamaModel model, RingTransport transport, int[] tokens, Options options,
                                     MemorySegment logitsOut) {
        LlamaConfig c = model.config();
        AttentionSpec spec = AttentionSpec.of(c.headDim()).withCausal(true);
        RingOptions ringOptions = RingOptions.defaults(spec).withLayout(options.layout()).withTimeout(options.timeout())
                .forwardOnly();
        boolean scalar = options.simdBits() == -1;
        MatMul mm = MatMul.create(options.simdBits());
        KernelOptions kernelOptions = KernelOptions.defaults(options.threads());
        try (BlockKernel kernel = Devices.select("cpu", scalar ? kernelOptions.withImpl("scalar") : kernelOptions).kernel();
             RingAttention ring = new RingAttention(transport, kernel, ringOptions);
             WorkerPool pool = new WorkerPool(options.threads(), "ringattn-model-rank-" + transport.rank())) {
            Positions positions = ring.localPositions(tokens.length);
            int vocab = c.vocabSize();
            LlamaModel.LogitsSink sink = logitsOut == null ? null : (first, rows, logits) -> {
                for (int r = 0; r < rows; r++) {
                    MemorySegment.copy(logits, 4L * r * vocab, logitsOut, 4L * positions.get(first + r) * vocab, 4L * vocab);
                }
            };
            transport.barrier(options.timeout());
            if (transport.rank() == options.crashRank()) {
                throw new IllegalStateException("rank " + transport.rank() + ": failure drill (crash rank)");
            }
            long t0 = System.nanoTime();
            long attention = model.forwardShard(ring, tokens, mm, pool, sink);
            long t1 = System.nanoTime();
            return new RankResult(transport.rank(), positions.size(), (t1 - t0) / 1e9, attention / 1e9, PeakMemory.highWaterBytes(),
                    HeapHighWater.bytes(),                     mm.name() + "+" + kernel.name());
        }
    }

    /** All {@code ranks} as threads of this JVM (in-JVM ring); results by rank. A rank's failure is rethrown. */
    public static List<RankResult> runLocal(LlamaModel model, int[] tokens, int ranks, Options options, MemorySegment logitsOut) {
        model.checkTokens(tokens);
        return InJvmRing.run(ranks, options.timeout(), t -> runRank(model, t, tokens, options, logitsOut));
    }

    /**
     * CPU time used by this process so far, all threads, in seconds (utime + stime from
     * /proc/self/stat at the usual 100 ticks per second), or NaN when unavailable. On a shared machine
     * this measures work where wall time measures contention.
     */
    public static double processCpuSeconds() {
        try {
            String stat = Files.readString(Path.of("/proc/self/stat"), StandardCharsets.US_ASCII);
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).trim().split("\\s+");
            // fields after "(comm)": state is field 3, utime field 14, stime field 15 (1-based in proc(5))
            return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0;
        } catch (IOException | RuntimeException e) {
            return Double.NaN;
        }
    }
}
