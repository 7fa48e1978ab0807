package ringattn.cli;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import ringattn.engine.kernel.AttentionSpec;
import ringattn.engine.ring.RingOptions;
import ringattn.engine.ring.ShardLayout;
import ringattn.engine.tensor.DType;

/**
 * The parameters of a demo job, the same on every rank. Immutable.
 *
 * @param ranks      ring size P
 * @param seqLen     global sequence length S, tokens
 * @param heads      query heads
 * @param kvHeads    key/value heads (divides {@code heads})
 * @param headDim    head dimension
 * @param causal     causal mask
 * @param window     sliding window in tokens, 0 for none
 * @param dtype      storage type of Q, K, V and O
 * @param seed       input seed
 * @param threads    compute threads per rank
 * @param checkRows  rows checked against the reference, or −1: every row when S ≤ {@link #ALL_ROWS_LIMIT},
 *                   else {@link #DEFAULT_CHECK_ROWS}
 * @param layout     sharding layout, or null for the engine's default for the spec
 * @param timeout    rank-failure bound
 * @param repeats    forward passes run; the fastest is reported (the first one includes JIT warm-up)
 * @param device     {@code auto}, {@code cpu} or {@code cuda} (each rank selects through the engine)
 */
public record DemoJob(int ranks, int seqLen, int heads, int kvHeads, int headDim, boolean causal, int window,
                      DType dtype, long seed, int threads, int checkRows, ShardLayout layout, Duration timeout,
                      int repeats, String device) {
    /** Every row is checked when S is at most this. */
    public static final int ALL_ROWS_LIMIT = 2048;
    /** Rows checked by default above {@link #ALL_ROWS_LIMIT}. */
    public static final int DEFAULT_CHECK_ROWS = 64;
    /** The largest {@code --timeout}: 7 days, in seconds. */
    static final double MAX_TIMEOUT_SECONDS = 7 * 86_400;

    /** The global positions checked against the reference, increasing. */
    public int[] checkedRows() {
        return checkRows < 0 ? DemoInputs.checkedRows(seed, seqLen, DEFAULT_CHECK_ROWS, ALL_ROWS_LIMIT)
                : DemoInputs.checkedRows(seed, seqLen, checkRows, 0);
    }

    /** Progress of this job's passes on {@code err} ({@code name} first in the text). */
    RingProgress progress(String name, Progress err) {
        return new RingProgress(err, System::nanoTime, name, seqLen, RingProgress.ringSteps(ranks, window), repeats);
    }

    /** Options shared by {@code demo} and {@code worker demo}. */
    static List<Option> options() {
        return List.of(
                Option.value("ranks", "N", "ring size (default 4)"),
                Option.value("seq", "S", "global sequence length in tokens (default 16384)"),
                Option.value("heads", "H", "query heads (default 8)"),
                Option.value("kv-heads", "K", "key/value heads, dividing H (default: H)"),
                Option.value("head-dim", "D", "head dimension (default 128)"),
                Option.flag("causal", "causal mask (default)"),
                Option.flag("no-causal", "no causal mask"),
                Option.value("window", "W", "sliding window of W tokens (default: none)"),
                Option.value("dtype", "f32|bf16", "storage type of Q, K, V, O (default f32)"),
                Option.value("seed", "N", "input seed (default 42)"),
                Option.value("check-rows", "R", "rows checked against the fp64 reference (default: every row when "
                        + "S <= " + ALL_ROWS_LIMIT + ", else 64 seeded rows; all heads)"),
                Option.value("layout", "zigzag|contiguous|striped", "sharding (default: zigzag when causal "
                        + "without window, else contiguous)"),
                Option.value("timeout", "SECONDS", "rank-failure bound: a rank that dies or stops answering is "
                        + "reported within it (over UCX default: RINGATTN_TIMEOUT or 30); waits for another rank's data "
                        + "are bounded by the larger of it and 60, or 10x a pessimistic estimate of one ring step"),
                Option.value("repeat", "R", "forward passes; the fastest is reported, the last is checked (default 3: the first passes include JIT compilation)"),
                Option.value("threads", "T", "compute threads per rank (default: cores / ranks on this host, >= 1)"),
                DemoTolerance.option(),
                Device.OPTION);
    }

    /**
     * Reads and validates the options. {@code ranksOnThisHost}: all ranks share this machine, so the
     * default thread count is cores / ranks (else cores / ranks-per-node from the launcher's
     * environment).
     */
    static DemoJob from(Options o, int defaultRanks, boolean ranksOnThisHost) {
        int ranks = o.intValue("ranks", defaultRanks, 1, 4096);
        int seq = o.intValue("seq", 16384, 1, Integer.MAX_VALUE);
        int heads = o.intValue("heads", 8, 1, 4096);
        int kvHeads = o.intValue("kv-heads", heads, 1, 4096);
        if (heads % kvHeads != 0) {
            throw new UsageException("--kv-heads", kvHeads + " does not divide --heads " + heads);
        }
        int headDim = o.intValue("head-dim", 128, 1, 65536);
        boolean causal = o.toggle("causal", true);
        int window = o.intValue("window", 0, 1, Integer.MAX_VALUE);
        DType dtype;
        try {
            dtype = DType.parse(o.string("dtype", "f32"));
        } catch (IllegalArgumentException e) {
            throw new UsageException("--dtype", "expected f32 or bf16, got '" + o.string("dtype", "") + "'");
        }
        long seed = o.longValue("seed", 42);
        int checkRows = o.intValue("check-rows", -1, 0, Integer.MAX_VALUE);
        ShardLayout layout = null;
        if (o.has("layout")) {
            layout = ShardLayout.valueOf(o.choice("layout", "zigzag", "zigzag", "contiguous", "striped")
                    .toUpperCase(java.util.Locale.ROOT));
        }
        int threads = o.intValue("threads", defaultThreads(ranksOnThisHost ? ranks : ranksPerNode()), 1, 4096);
        long bytes = (long) seq * heads * headDim * dtype.byteSize();
        if (bytes / ranks > (1L << 34)) {
            throw new UsageException("--seq", "a shard of Q would need " + bytes / ranks + " bytes; use more ranks");
        }
        int repeats = o.intValue("repeat", 3, 1, 1000);
        return new DemoJob(ranks, seq, heads, kvHeads, headDim, causal, window, dtype, seed, threads, checkRows,
                layout, timeout(o, seq, ranks, heads, headDim, threads), repeats, Device.choice(o));
    }

    /**
     * {@code --timeout} in seconds, or the default: 60 s, raised to ten times a pessimistic estimate
     * of one ring step's compute (4·(S/P)²·D·H FLOPs at 0.5 GFLOP/s per thread, the scalar kernel's
     * pace), so that a long step on a big job is not mistaken for a dead neighbour. A killed rank is
     * still seen at once (its connections close); the bound matters for hung ones.
     */
    static Duration timeout(Options o, int seqLen, int ranks, int heads, int headDim, int threads) {
        if (o.has("timeout")) {
            return explicitTimeout(o);
        }
        double shard = Math.ceil(seqLen / (double) ranks);
        double stepSeconds = 4.0 * shard * shard * headDim * heads / (0.5e9 * threads);
        return Duration.ofSeconds((long) Math.min(86_400, Math.max(60, 10 * stepSeconds)));
    }

    /**
     * The {@code --timeout} given, in seconds: finite, above 0 and at most {@link #MAX_TIMEOUT_SECONDS}
     * (larger bounds overflow the deadlines derived from it and wait longer than any job runs).
     */
    static Duration explicitTimeout(Options o) {
        double t = o.doubleValue("timeout", 60);
        if (t <= 0) {
            throw new UsageException("--timeout", "must be > 0 seconds");
        }
        if (t > MAX_TIMEOUT_SECONDS) {
            throw new UsageException("--timeout", "must be at most " + (long) MAX_TIMEOUT_SECONDS + " seconds (7 days), got "
                    + o.string("timeout", ""));
        }
        return Duration.ofMillis((long) Math.ceil(t * 1000));
    }

    /** Ranks on this node from Slurm / Open MPI / our own environment, 1 when unknown. */
    static int ranksPerNode() {
        for (String key : List.of("RINGATTN_LOCAL_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE",
                "MPI_LOCALNRANKS")) {
            String v = System.getenv(key);
            if (v != null) {
                try {
                    return Math.max(1, Integer.parseInt(v.split("[(,]")[0].trim()));
                } catch (NumberFormatException ignored) {
                    // try the next one
                }
            }
        }
        return 1;
    }

    /** Available cores divided by the ranks on this host, at least 1. */
    static int defaultThreads(int ranksOnHost) {
        return Math.max(1, Runtime.getRuntime().availableProcessors() / Math.max(1, ranksOnHost));
    }

    /** The attention spec. */
    public AttentionSpec spec() {
        AttentionSpec s = AttentionSpec.of(headDim).withCausal(causal);
        return window > 0 ? s.withWindow(window) : s;
    }

    /** The ring options (layout default from the engine unless set). */
    public RingOptions ringOptions() {
        RingOptions o = RingOptions.defaults(spec()).withTimeout(timeout).forwardOnly(); // the demo runs forward passes
        return layout == null ? o : o.withLayout(layout);
    }

    /** The options that reproduce this job in a worker process. */
    public List<String> toArgs() {
        List<String> a = new ArrayList<>(List.of("--ranks=" + ranks, "--seq=" + seqLen, "--heads=" + heads,
                "--kv-heads=" + kvHeads, "--head-dim=" + headDim, causal ? "--causal" : "--no-causal",
                "--dtype=" + dtype.name().toLowerCase(java.util.Locale.ROOT), "--seed=" + seed, "--threads=" + threads,
                "--timeout=" + timeout.toMillis() / 1000.0, "--repeat=" + repeats, "--device=" + device));
        if (checkRows >= 0) {
            a.add("--check-rows=" + checkRows);
        }
        if (window > 0) {
            a.add("--window=" + window);
        }
        if (layout != null) {
            a.add("--layout=" + layout.name().toLowerCase(java.util.Locale.ROOT));
        }
        return a;
    }

    /** Nominal FLOPs of the forward pass ({@link Flops#forward}: 4·S²·D·H, halved when causal). */
    public double nominalFlops() {
        return Flops.forward(seqLen, heads, headDim, causal);
    }
}
