package ringattn.cli;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;
import ringattn.engine.ring.ShardLayout;
import ringattn.engine.tensor.DType;
import ringattn.io.ArrayData;
import ringattn.io.ArraySpec;
import ringattn.io.ElementType;
import ringattn.io.FileFormatException;
import ringattn.io.Npy;
import ringattn.io.OutputFile;
import ringattn.model.Checkpoint;
import ringattn.model.LlamaConfig;
import ringattn.model.LlamaModel;
import ringattn.model.ModelFormatException;
import ringattn.model.Prefill;
import ringattn.model.TinyLlama;
import ringattn.model.WeightSource;

/**
 * A validated {@code prefill} job: the model bound to its weights (memory-mapped safetensors or GGUF,
 * or the seeded tiny model), the token ids, and where the logits go. Every check happens in {@link #load},
 * before any compute, and names the option. Owns the weights: {@link #close()} unmaps them. Not
 * thread-safe to load or close; the model may be read by every local rank at once.
 */
final class PrefillJob implements AutoCloseable {
    /** The one array of the {@code --out} file. */
    static final String LOGITS = "logits";

    final Options options;
    /** The model directory or GGUF file, or null for {@code --tiny}. */
    final Path modelPath;
    final LlamaModel model;
    private final WeightSource weights;
    /** The token ids, or null for {@code --bench} (which makes its own). */
    final int[] tokens;
    final int ranks;
    /** {@code --threads}, or 0 for cores divided by the ranks on this host. */
    private final int threads;
    final ShardLayout layout;
    final Duration timeout;
    final long seed;
    /** Failure drill: the rank that fails after the start barrier, or -1. */
    final int crashRank;
    /** {@code --out}, or null. */
    final Path out;

    /** The options of a prefill job, shared by {@code prefill} and {@code worker prefill}. */
    static List<Option> options() {
        return List.of(
                Option.value("model", "DIR|FILE.gguf", "a Llama-style model: a directory with config.json and safetensors "
                        + "(one file, shards with an index, or every *.safetensors), or a llama.cpp GGUF file (F32, F16, "
                        + "BF16, Q8_0)"),
                Option.flag("tiny", "the embedded tiny model instead (seeded random weights, vocab 512, 4 layers)"),
                Option.value("tiny-dtype", "f32|bf16", "weight dtype of --tiny (default f32)"),
                Option.value("tokens", "FILE.npy", "token ids: any integer .npy, shape [S] or [1, S]"),
                Option.value("random", "S", "S seeded random token ids instead"),
                Option.value("seed", "N", "seed of --random (default 1)"),
                Option.value("ranks", "N", "ring size (default 1)"),
                Option.value("threads", "T", "compute threads per rank (default: cores / ranks on this host, >= 1)"),
                Option.value("layout", "zigzag|contiguous|striped", "sharding (default zigzag)"),
                Option.value("timeout", "SECONDS", "bound on any wait for another rank (default 120); over UCX also "
                        + "the rank-failure bound"),
                Option.value("out", "LOGITS.npy", "write the logits [S, vocab] float32"),
                Option.value("crash-rank", "R", "failure drill: rank R fails (a local rank after the start barrier, "
                        + "a UCX rank halts before its forward; also RINGATTN_CRASH_RANK=R); the job ends with exit 3"));
    }

    private PrefillJob(Options o, int defaultRanks, boolean bench) {
        options = o;
        boolean tiny = o.flag("tiny");
        if (o.has("model") && tiny) {
            throw new UsageException("--model/--tiny", "give one, not both");
        }
        if (!o.has("model") && !tiny && !bench) {
            throw new UsageException("--model/--tiny", "one is required");
        }
        if (!bench && o.has("tokens") && o.has("random")) {
            throw new UsageException("--tokens/--random", "give one, not both");
        }
        if (!bench && !o.has("tokens") && !o.has("random")) {
            throw new UsageException("--tokens/--random", "one is required");
        }
        ranks = o.intValue("ranks", defaultRanks, 1, 4096);
        threads = o.intValue("threads", 0, 1, 4096);
        layout = ShardLayout.valueOf(o.choice("layout", "zigzag", "zigzag", "contiguous", "striped").toUpperCase(Locale.ROOT));
        timeout = o.has("timeout") ? DemoJob.explicitTimeout(o) : Duration.ofSeconds(120);
        seed = o.longValue("seed", 1);
        long crash = o.longValue("crash-rank", -1);
        crashRank = crash < Integer.MIN_VALUE || crash > Integer.MAX_VALUE ? -1 : (int) crash;
        int random = o.has("random") ? o.intValue("random", 1, 1, Integer.MAX_VALUE) : -1;
        DType tinyDtype = DType.valueOf(o.choice("tiny-dtype", "f32", "f32", "bf16").toUpperCase(Locale.ROOT));
        out = o.has("out") ? Path.of(o.required("out")) : null;
        Path tokenFile = o.has("tokens") && !bench ? Path.of(o.required("tokens")) : null;
        modelPath = o.has("model") ? Path.of(o.required("model")) : null;
        guardOutputs(o, tokenFile);
        LlamaConfig config;
        if (modelPath == null) {
            config = LlamaConfig.tiny();
            weights = TinyLlama.weights(config, tinyDtype, TinyLlama.DEFAULT_SEED);
        } else {
            Checkpoint checkpoint = openCheckpoint(modelPath);
            config = checkpoint.config();
            weights = checkpoint.weights();
        }
        try {
            model = LlamaModel.load(config, weights);
            tokens = bench ? null : tokenFile == null ? TinyLlama.randomTokens(random, config.vocabSize(), seed)
                    : readTokens(tokenFile);
            if (tokens != null) {
                try {
                    model.checkTokens(tokens);
                } catch (IllegalArgumentException e) {
                    throw new UsageException(tokenFile != null ? "--tokens" : "--random",
                            (tokenFile != null ? tokenFile + ": " : "") + e.getMessage());
                }
            }
        } catch (ModelFormatException e) {
            weights.close();
            throw new UsageException(modelPath != null ? "--model" : "--tiny", e.getMessage());
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    /**
     * Parses and checks the options, binds the model and reads the tokens (none with {@code bench});
     * {@code --ranks} defaults to {@code defaultRanks}.
     */
    static PrefillJob load(Options o, int defaultRanks, boolean bench) {
        return new PrefillJob(o, defaultRanks, bench);
    }

    /** Refuses an {@code --out} (or worker {@code --report}) that is an input: the token file, the GGUF file or a file of the model directory. */
    private static void guardOutputs(Options o, Path tokenFile) {
        OutputGuard guard = new OutputGuard();
        if (tokenFile != null) {
            guard.input("--tokens", tokenFile.toString(), tokenFile);
        }
        if (o.has("model") && Files.isDirectory(Path.of(o.required("model")))) {
            try (Stream<Path> files = Files.list(Path.of(o.required("model")))) {
                files.filter(Files::isRegularFile).forEach(f -> guard.input("--model", f.toString(), f));
            } catch (IOException e) {
                throw new UsageException("--model", o.required("model") + ": cannot list: " + e.getMessage());
            }
        } else if (o.has("model") && Files.isRegularFile(Path.of(o.required("model")))) {
            guard.input("--model", o.required("model"), Path.of(o.required("model")));
        }
        for (String output : List.of("out", "report")) {
            if (o.has(output)) {
                Path p = Path.of(o.required(output));
                guard.output("--" + output, p.toString(), p, false);
            }
        }
        guard.check();
    }

    /** A model directory or GGUF file; every problem is a usage error of {@code --model}. */
    static Checkpoint openCheckpoint(Path path) {
        try {
            return Checkpoint.open(path);
        } catch (ModelFormatException e) {
            throw new UsageException("--model", e.getMessage());
        }
    }

    static int[] readTokens(Path file) {
        try (Arena arena = Arena.ofConfined()) {
            return tokenIds(Npy.read(file, arena));
        } catch (FileFormatException e) {
            throw new UsageException("--tokens", e.getMessage());
        }
    }

    /**
     * Token ids from an integer array of shape {@code [S]} or {@code [1, S]} (any integer type);
     * throws naming the file when the dtype, the shape or an id (negative, above
     * {@code Integer.MAX_VALUE}) is wrong.
     */
    static int[] tokenIds(ArrayData a) {
        long[] shape = a.shape();
        if (!(shape.length == 1 || (shape.length == 2 && shape[0] == 1))) {
            throw new FileFormatException(a.file(), "token ids must be 1-D [S] or [1, S], got shape " + a.shapeString());
        }
        if (!a.type().isInteger()) {
            throw new FileFormatException(a.file(), "token ids must be integers (<i4, <i8, <u2, ...), got " + a.type());
        }
        if (a.elementCount() > Integer.MAX_VALUE) {
            throw new FileFormatException(a.file(), a.elementCount() + " token ids is too many");
        }
        int[] ids = new int[(int) a.elementCount()];
        for (int i = 0; i < ids.length; i++) {
            long v = a.getLong(i);
            if (v < 0 || v > Integer.MAX_VALUE) {
                throw new FileFormatException(a.file(), "token id " + v + " at index " + i + " is out of range");
            }
            ids[i] = (int) v;
        }
        return ids;
    }

    /** What the banners call the model: {@code tiny} or the directory or file as given. */
    String modelName() {
        return modelPath == null ? "tiny" : modelPath.toString();
    }

    /** {@code --threads}, else the cores divided by {@code ranksHere}, at least 1. */
    int threadsPerRank(int ranksHere) {
        return threads > 0 ? threads : DemoJob.defaultThreads(ranksHere);
    }

    /**
     * The model's run options for a rank sharing this host with {@code ranksHere - 1} others, for this
     * one-shot job: the scalar kernels when it is too small to repay the vector code's JIT warm-up
     * ({@link #scalarKernels}).
     */
    Prefill.Options prefillOptions(int ranksHere) {
        return new Prefill.Options(threadsPerRank(ranksHere), layout, timeout, scalarKernels() ? -1 : 0, crashRank);
    }

    /** The options of {@code --bench}'s warmed runs: the vector kernels, whatever the size. */
    Prefill.Options benchOptions(int ranksHere) {
        return new Prefill.Options(threadsPerRank(ranksHere), layout, timeout, 0, crashRank);
    }

    /**
     * Whether this job runs the scalar kernels ({@link Prefill#scalarFor}); said once per process on
     * stderr, with the flag that overrides it.
     */
    boolean scalarKernels() {
        boolean scalar = Prefill.scalarFor(model.config(), tokens.length, ranks);
        if (scalar && SCALAR_SAID.compareAndSet(false, true)) {
            System.err.printf(java.util.Locale.ROOT, "ringattn prefill: scalar kernels (%.2f GFLOP per rank, below the %.0f"
                    + " GFLOP where the vector code repays its JIT warm-up in a fresh JVM; -Dringattn.kernel=simd"
                    + " in RINGATTN_JVM_OPTS forces the vector kernels)%n",
                    model.config().prefillFlopsPerRank(tokens.length, ranks) / 1e9, Prefill.SCALAR_BELOW_FLOPS / 1e9);
        }
        return scalar;
    }

    private static final java.util.concurrent.atomic.AtomicBoolean SCALAR_SAID = new java.util.concurrent.atomic.AtomicBoolean();

    /** The {@code --out} file's layout: float32 logits {@code [tokens, vocab]} in one {@code .npy} array. */
    private Map<String, ArraySpec> logitsLayout() {
        return Map.of(LOGITS, new ArraySpec(ElementType.F32, new long[] {tokens.length, model.config().vocabSize()}));
    }

    /** Creates {@code --out}'s temporary file; errors name {@code --out}. */
    OutputFile createOutput() {
        try {
            return OutputFile.create(out, false, logitsLayout());
        } catch (FileFormatException e) {
            throw new UsageException("--out", e.getMessage());
        }
    }

    /** Opens the temporary file of {@code --out} that another process created with id {@code tempId}. */
    OutputFile openOutput(String tempId) {
        try {
            return OutputFile.open(out, tempId, false, logitsLayout());
        } catch (FileFormatException e) {
            throw new UsageException("--out", e.getMessage());
        }
    }

    /** The options to pass to worker processes: all but the transport choice, with ranks, threads and timeout explicit. */
    List<String> workerArgs(int threadsPerRank) {
        return workerArgs(options, ranks, threadsPerRank, timeout);
    }

    /**
     * A job's options for its worker processes ({@code prefill}, {@code generate}): all but
     * {@code --transport} and {@code --json}, with ranks, threads and timeout explicit.
     */
    static List<String> workerArgs(Options options, int ranks, int threadsPerRank, Duration timeout) {
        List<String> a = new ArrayList<>();
        for (String s : options.toArgs()) {
            if (!s.startsWith("--transport=") && !s.equals("--json") && !s.startsWith("--ranks=")
                    && !s.startsWith("--threads=") && !s.startsWith("--timeout=")) {
                a.add(s);
            }
        }
        a.add("--ranks=" + ranks);
        a.add("--threads=" + threadsPerRank);
        a.add("--timeout=" + timeout.toMillis() / 1000.0);
        return a;
    }

    /**
     * What every rank of a job must agree on (the transport refuses a rank whose parameters differ):
     * the model, its dtype, the sequence and a hash of its ids, the ring size and layout.
     */
    String jobParams() {
        return "prefill model=" + modelName() + " tiny-dtype=" + options.string("tiny-dtype", "f32") + " seq="
                + tokens.length + " tokens=" + Integer.toHexString(java.util.Arrays.hashCode(tokens)) + " ranks=" + ranks
                + " layout=" + layout.name().toLowerCase(Locale.ROOT);
    }

    @Override
    public void close() {
        weights.close();
    }
}
