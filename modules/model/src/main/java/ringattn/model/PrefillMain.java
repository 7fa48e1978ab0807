package ringattn.model;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import ringattn.engine.ring.ShardLayout;
import ringattn.engine.tensor.DType;
import ringattn.engine.transport.RankFailedException;
import ringattn.engine.transport.RingTransport;
import ringattn.io.ArrayData;
import ringattn.io.ArraySpec;
import ringattn.io.ElementType;
import ringattn.io.FileFormatException;
import ringattn.io.HeapHighWater;
import ringattn.io.JsonLine;
import ringattn.io.Npy;
import ringattn.io.OutputFile;
import ringattn.io.PeakMemory;

/**
 * {@code prefill}: runs a Llama-style model over a long token sequence with ring attention across
 * ranks, and reports tokens/s and the peak memory of every rank.
 *
 * <pre>
 * prefill (--model DIR | --tiny) (--tokens FILE.npy | --random S) [--ranks N] [--transport local|ucx]
 *         [--threads T] [--layout zigzag|contiguous|striped] [--out LOGITS.npy] [--json]
 *         [--seed N] [--timeout SECONDS] [--tiny-dtype f32|bf16] [--crash-rank R]
 * prefill --bench [--model DIR | --tiny] [--bench-seqs 1024,2048] [--bench-ranks 1,2,3,4] [--bench-reps 2]
 *         [--threads T] [--json]
 * </pre>
 *
 * The benchmark runs the ranks as threads of this JVM and reports, for every (S, P), the best of
 * {@code --bench-reps} runs after a warm-up.
 *
 * {@code --crash-rank R} (or {@code RINGATTN_CRASH_RANK=R} for UCX ranks) is a failure drill: rank R
 * fails after the start barrier (a UCX rank process halts), to check that the job ends with exit 3.
 *
 * Exit codes: 0 ok, 2 bad usage or input (an {@code error:} line names the argument or file), 3 a rank
 * failed, 1 anything else. With {@code --json} the last stdout line is one JSON object.
 */
public final class PrefillMain {
    public static final int OK = 0;
    public static final int FAILED = 1;
    public static final int USAGE = 2;
    public static final int RANK_FAILED = 3;

    static final String RESULT_TAG = "RINGATTN_RANK_RESULT ";
    /** The one array of the {@code --out} file. */
    private static final String LOGITS = "logits";

    private static final String USAGE_TEXT = """
            usage: prefill (--model DIR | --tiny) (--tokens FILE.npy | --random S) [--ranks N]
                           [--transport local|ucx] [--threads T] [--layout zigzag|contiguous|striped]
                           [--out LOGITS.npy] [--json] [--seed N] [--timeout SECONDS] [--tiny-dtype f32|bf16]
                   prefill --bench [--model DIR | --tiny] [--bench-seqs 1024,2048,4096] [--bench-ranks 1,2,3,4]
                           [--bench-reps 2] [--threads T] [--json]""";

    private PrefillMain() {
    }

    public static void main(String[] args) {
        ringattn.transport.ucx.LogFormat.oneLine();
        int code = run(args, System.out, System.err);
        System.out.flush();
        System.exit(code);
    }

    /** A bad argument or input file: exit code 2. */
    static final class UsageException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        UsageException(String message) {
            super(message);
        }
    }

    /** Parsed arguments. */
    static final class Args {
        Path model;
        boolean tiny;
        Path tokens;
        int random = -1;
        int ranks = 1;
        String transport = "local";
        int threads = 0;
        ShardLayout layout = ShardLayout.ZIGZAG;
        Path out;
        boolean json;
        long seed = 1;
        Duration timeout = Duration.ofSeconds(120);
        DType tinyDtype = DType.F32;
        boolean bench;
        int[] benchSeqs = {1024, 2048, 4096};
        int[] benchRanks = {1, 2, 3, 4};
        int benchReps = 2;
        boolean worker;
        String jobId;
        int crashRank = -1;

        static Args parse(String[] a) {
            Args r = new Args();
            for (int i = 0; i < a.length; i++) {
                String flag = a[i];
                switch (flag) {
                    case "--tiny" -> r.tiny = true;
                    case "--json" -> r.json = true;
                    case "--bench" -> r.bench = true;
                    case "--worker" -> r.worker = true;
                    case "--model" -> r.model = Path.of(value(a, ++i, flag));
                    case "--tokens" -> r.tokens = Path.of(value(a, ++i, flag));
                    case "--random" -> r.random = positive(value(a, ++i, flag), flag);
                    case "--ranks" -> r.ranks = positive(value(a, ++i, flag), flag);
                    case "--threads" -> r.threads = positive(value(a, ++i, flag), flag);
                    case "--seed" -> r.seed = parseLong(value(a, ++i, flag), flag);
                    case "--out" -> r.out = Path.of(value(a, ++i, flag));
                    case "--job-id" -> r.jobId = value(a, ++i, flag);
                    case "--transport" -> {
                        r.transport = value(a, ++i, flag);
                        if (!r.transport.equals("local") && !r.transport.equals("ucx")) {
                            throw new UsageException("--transport: expected local or ucx, got '" + r.transport + "'");
                        }
                    }
                    case "--layout" -> {
                        try {
                            r.layout = ShardLayout.parse(value(a, ++i, flag));
                        } catch (IllegalArgumentException e) {
                            throw new UsageException("--" + e.getMessage());
                        }
                    }
                    case "--timeout" -> {
                        String v = value(a, ++i, flag);
                        try {
                            double s = Double.parseDouble(v);
                            if (!(s > 0)) {
                                throw new NumberFormatException();
                            }
                            r.timeout = Duration.ofMillis((long) Math.ceil(s * 1000));
                        } catch (NumberFormatException e) {
                            throw new UsageException("--timeout: expected positive seconds, got '" + v + "'");
                        }
                    }
                    case "--tiny-dtype" -> {
                        try {
                            r.tinyDtype = DType.parse(value(a, ++i, flag));
                        } catch (IllegalArgumentException e) {
                            throw new UsageException("--tiny-" + e.getMessage());
                        }
                    }
                    case "--bench-seqs" -> r.benchSeqs = list(value(a, ++i, flag), flag);
                    case "--bench-ranks" -> r.benchRanks = list(value(a, ++i, flag), flag);
                    case "--bench-reps" -> r.benchReps = positive(value(a, ++i, flag), flag);
                    case "--crash-rank" -> r.crashRank = (int) parseLong(value(a, ++i, flag), flag);
                    case "-h", "--help" -> throw new UsageException("help");
                    default -> throw new UsageException("unknown argument '" + flag + "'");
                }
            }
            if (r.model != null && r.tiny) {
                throw new UsageException("--model/--tiny: give one, not both");
            }
            if (r.model == null && !r.tiny) {
                if (!r.bench) {
                    throw new UsageException("--model/--tiny: one is required");
                }
                r.tiny = true;
            }
            if (r.worker && r.out != null && r.jobId == null) {
                throw new UsageException("--out: a worker also needs the --job-id of the file's creator");
            }
            if (!r.bench) {
                if (r.tokens != null && r.random >= 0) {
                    throw new UsageException("--tokens/--random: give one, not both");
                }
                if (r.tokens == null && r.random < 0) {
                    throw new UsageException("--tokens/--random: one is required");
                }
            }
            return r;
        }

        private static String value(String[] a, int i, String flag) {
            if (i >= a.length || a[i].startsWith("--")) {
                throw new UsageException(flag + ": missing value");
            }
            return a[i];
        }

        private static int positive(String v, String flag) {
            try {
                int n = Integer.parseInt(v);
                if (n < 1) {
                    throw new NumberFormatException();
                }
                return n;
            } catch (NumberFormatException e) {
                throw new UsageException(flag + ": expected a positive integer, got '" + v + "'");
            }
        }

        private static long parseLong(String v, String flag) {
            try {
                return Long.parseLong(v);
            } catch (NumberFormatException e) {
                throw new UsageException(flag + ": expected an integer, got '" + v + "'");
            }
        }

        private static int[] list(String v, String flag) {
            String[] parts = v.split(",");
            int[] out = new int[parts.length];
            for (int i = 0; i < parts.length; i++) {
                out[i] = positive(parts[i].trim(), flag);
            }
            return out;
        }

        int threadsPerRank(int ranksHere) {
            return threads > 0 ? threads : Math.max(1, Runtime.getRuntime().availableProcessors() / ranksHere);
        }
    }

    /** Runs the command; returns the exit code. */
    public static int run(String[] argv, PrintStream out, PrintStream err) {
        HeapHighWater.track(); // before the job's first collection
        Args args;
        try {
            args = Args.parse(argv);
        } catch (UsageException e) {
            if (!e.getMessage().equals("help")) {
                err.println("error: " + e.getMessage());
            }
            err.println(USAGE_TEXT);
            return e.getMessage().equals("help") ? OK : USAGE;
        }
        WeightSource weights = null;
        try {
            if (args.worker) {
                // a rank started by prefill --transport ucx stops (exit 3) if that launcher dies
                ringattn.launch.LauncherWatch.startFromEnvironment(System.getenv(), () -> { });
            }
            LlamaConfig config;
            if (args.tiny) {
                config = LlamaConfig.tiny();
                weights = TinyLlama.weights(config, args.tinyDtype, TinyLlama.DEFAULT_SEED);
            } else {
                config = readConfig(args.model);
                weights = openWeights(args.model);
            }
            LlamaModel model;
            try {
                model = LlamaModel.load(config, weights);
            } catch (ModelFormatException e) {
                throw new UsageException(e.getMessage());
            }
            if (args.bench) {
                return bench(model, args, out);
            }
            int[] tokens = tokens(args, config);
            try {
                model.checkTokens(tokens);
            } catch (IllegalArgumentException e) {
                throw new UsageException((args.tokens != null ? args.tokens + ": " : "") + e.getMessage());
            }
            if (args.worker) {
                return worker(model, tokens, args, out);
            }
            return args.transport.equals("local") ? local(model, tokens, args, out) : ucx(argv, model, tokens, args, out, err);
        } catch (UsageException e) {
            err.println("error: " + e.getMessage());
            return USAGE;
        } catch (RankFailedException e) {
            err.println("error: rank " + e.failedRank() + " failed: " + e.getMessage());
            return RANK_FAILED;
        } catch (RankFailure e) {
            err.println("error: " + e.getMessage());
            return RANK_FAILED;
        } catch (IOException | FileFormatException e) {
            err.println("error: " + e.getMessage());
            return USAGE;
        } catch (RuntimeException | OutOfMemoryError e) {
            err.println("error: " + e);
            return FAILED;
        } finally {
            if (weights != null) {
                weights.close();
            }
        }
    }

    /** A rank failed while running (exit code 3). */
    static final class RankFailure extends RuntimeException {
        private static final long serialVersionUID = 1L;

        RankFailure(String message, Throwable cause) {
            super(message, cause);
        }
    }

    private static LlamaConfig readConfig(Path dir) throws IOException {
        Path file = dir.resolve("config.json");
        if (!Files.isDirectory(dir)) {
            throw new UsageException("--model: " + dir + " is not a directory");
        }
        if (!Files.exists(file)) {
            throw new UsageException("--model: " + dir + " has no config.json");
        }
        try {
            return LlamaConfig.read(file);
        } catch (ModelFormatException e) {
            throw new UsageException(e.getMessage());
        }
    }

    private static WeightSource openWeights(Path dir) throws IOException {
        try {
            return SafetensorsWeights.open(dir);
        } catch (ModelFormatException e) {
            throw new UsageException(e.getMessage());
        } catch (IOException e) {
            throw new UsageException("--model: " + e.getMessage());
        }
    }

    private static int[] tokens(Args args, LlamaConfig config) {
        if (args.tokens == null) {
            return TinyLlama.randomTokens(args.random, config.vocabSize(), args.seed);
        }
        try (Arena arena = Arena.ofConfined()) {
            return tokenIds(Npy.read(args.tokens, arena));
        } catch (FileFormatException e) {
            throw new UsageException("--tokens: " + e.getMessage());
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
        int[] out = new int[(int) a.elementCount()];
        for (int i = 0; i < out.length; i++) {
            long v = a.getLong(i);
            if (v < 0 || v > Integer.MAX_VALUE) {
                throw new FileFormatException(a.file(), "token id " + v + " at index " + i + " is out of range");
            }
            out[i] = (int) v;
        }
        return out;
    }

    /** The {@code --out} file's layout: float32 logits {@code [tokens, vocab]} in one {@code .npy} array. */
    private static Map<String, ArraySpec> logitsLayout(int tokens, int vocab) {
        return Map.of(LOGITS, new ArraySpec(ElementType.F32, new long[] {tokens, vocab}));
    }

    private static Prefill.Options options(Args args, int ranksHere) {
        return new Prefill.Options(args.threadsPerRank(ranksHere), args.layout, args.timeout, 0, args.crashRank);
    }

    private static int local(LlamaModel model, int[] tokens, Args args, PrintStream out) {
        LlamaConfig c = model.config();
        OutputFile file = args.out == null ? null
                : OutputFile.create(args.out, false, logitsLayout(tokens.length, c.vocabSize()));
        try {
            Prefill.Options o = options(args, args.ranks);
            banner(out, model, args, tokens.length, o.threads());
            List<Prefill.RankResult> results;
            try (Arena arena = Arena.ofShared()) {
                MemorySegment logits = file == null ? null : file.map(LOGITS, arena);
                try {
                    results = Prefill.runLocal(model, tokens, args.ranks, o, logits);
                } catch (RankFailedException e) {
                    throw e;
                } catch (RuntimeException e) {
                    throw new RankFailure("a rank failed: " + e, e);
                }
            }
            if (file != null) {
                file.commit();
            }
            report(out, args, tokens.length, results, "local");
            return OK;
        } finally {
            if (file != null) {
                file.close(); // deletes the temporary file unless committed
            }
        }
    }

    private static void banner(PrintStream out, LlamaModel model, Args args, int seqLen, int threads) {
        LlamaConfig c = model.config();
        out.printf(Locale.ROOT, "prefill: model %s (%d layers, hidden %d, heads %d/%d kv, vocab %d), S=%d, ranks %d (%s, %s), threads/rank %d%n",
                args.tiny ? "tiny" : args.model.toString(), c.layers(), c.hiddenSize(), c.heads(), c.kvHeads(), c.vocabSize(),
                seqLen, args.ranks, args.transport, args.layout.name().toLowerCase(Locale.ROOT), threads);
    }

    private static void report(PrintStream out, Args args, int seqLen, List<Prefill.RankResult> results, String transport) {
        double seconds = 0;
        for (Prefill.RankResult r : results) {
            seconds = Math.max(seconds, r.seconds());
            out.printf(Locale.ROOT, "rank %d: %d tokens, %.3f s (ring attention %.3f s), peak RSS %.1f MiB, heap peak %.1f MiB, "
                    + "kernels %s%n", r.rank(), r.tokens(), r.seconds(), r.attentionSeconds(), r.peakRssBytes() / 1048576.0,
                    r.heapPeakBytes() / 1048576.0, r.kernel());
        }
        double tps = seconds > 0 ? seqLen / seconds : 0;
        out.printf(Locale.ROOT, "prefill: %d tokens on %d ranks in %.3f s = %.1f tokens/s%n", seqLen, results.size(), seconds, tps);
        if ("local".equals(transport)) {
            out.println("note: local ranks share one process, so each rank's peak RSS is the whole process's");
        }
        if (args.out != null) {
            out.println("wrote logits [" + seqLen + ", vocab] float32 to " + args.out);
        }
        if (args.json) {
            out.println(new JsonLine().put("ranks", results.size()).put("seq", seqLen).put("tokens_per_s", tps)
                    .put("seconds", seconds)
                    .put("peak_rss_bytes_per_rank", results.stream().map(Prefill.RankResult::peakRssBytes).toList())
                    .put("heap_peak_bytes_per_rank", results.stream().map(Prefill.RankResult::heapPeakBytes).toList())
                    .put("transport", transport));
        }
    }

    // ---- ucx: one process per rank ----

    private static int ucx(String[] argv, LlamaModel model, int[] tokens, Args args, PrintStream out, PrintStream err) {
        try {
            Class.forName("ringattn.launch.LocalLauncher");
        } catch (ClassNotFoundException | LinkageError e) {
            throw new UsageException("--transport ucx: not available yet (the transport module's LocalLauncher is missing: " + e + ")");
        }
        return UcxRanks.launch(argv, model, tokens, args, out, err);
    }

    /** Kept in its own class so that the transport module is only touched with {@code --transport ucx}. */
    static final class UcxRanks {
        private UcxRanks() {
        }

        static int launch(String[] argv, LlamaModel model, int[] tokens, Args args, PrintStream out, PrintStream err) {
            LlamaConfig c = model.config();
            OutputFile file = args.out == null ? null
                    : OutputFile.create(args.out, false, logitsLayout(tokens.length, c.vocabSize()));
            try {
                List<String> workerArgs = new ArrayList<>();
                for (int i = 0; i < argv.length; i++) {
                    String a = argv[i];
                    if (a.equals("--out") || a.equals("--ranks") || a.equals("--threads")) {
                        i++;
                    } else if (!a.equals("--json")) {
                        workerArgs.add(a);
                    }
                }
                int threads = args.threadsPerRank(args.ranks);
                workerArgs.addAll(List.of("--worker", "--threads", Integer.toString(threads)));
                if (file != null) {
                    workerArgs.addAll(List.of("--out", args.out.toAbsolutePath().toString(), "--job-id", file.tempId()));
                }
                Map<String, String> env = new LinkedHashMap<>();
                if (System.getenv("UCX_NET_DEVICES") == null) {
                    env.put("UCX_NET_DEVICES", "lo");
                }
                env.put("RINGATTN_TIMEOUT", Double.toString(args.timeout.toMillis() / 1000.0));
                banner(out, model, args, tokens.length, threads);
                ringattn.launch.LocalLauncher.Spec spec = rankSpec(workerArgs, env);
                Tap tap = new Tap(out);
                PrintStream rankOut = new PrintStream(tap, true, StandardCharsets.UTF_8);
                ringattn.launch.LocalLauncher.Result result =
                        ringattn.launch.LocalLauncher.run(spec, args.ranks, rankOut, err);
                rankOut.flush();
                if (!result.succeeded()) {
                    throw new RankFailure((result.failedRank() >= 0 ? "rank " + result.failedRank() + " failed: " : "")
                            + result.failure(), null);
                }
                Prefill.RankResult[] byRank = new Prefill.RankResult[args.ranks];
                for (String line : tap.results()) {
                    Prefill.RankResult r = parseResult(line);
                    if (r.rank() >= 0 && r.rank() < byRank.length) {
                        byRank[r.rank()] = r;
                    }
                }
                for (int r = 0; r < byRank.length; r++) {
                    if (byRank[r] == null) {
                        throw new RankFailure("rank " + r + " exited without reporting a result", null);
                    }
                }
                if (file != null) {
                    file.commit();
                }
                report(out, args, tokens.length, Arrays.asList(byRank), "ucx");
                return OK;
            } finally {
                if (file != null) {
                    file.close(); // deletes the temporary file unless committed
                }
            }
        }
    }

    /**
     * The rank JVMs run like this one: on the module path when this module was started from it
     * (directories of jars stay directories), otherwise on the class path.
     */
    private static ringattn.launch.LocalLauncher.Spec rankSpec(List<String> workerArgs, Map<String, String> env) {
        String modulePath = System.getProperty("jdk.module.path");
        Duration deadline = Duration.ofHours(6);
        if (PrefillMain.class.getModule().isNamed() && modulePath != null && !modulePath.isEmpty()) {
            return new ringattn.launch.LocalLauncher.Spec(
                    Path.of(System.getProperty("java.home"), "bin", "java"),
                    List.of("--enable-native-access=ringattn.engine,ringattn.model,ringattn.transport.ucx,jucx",
                            "--add-modules", "jdk.incubator.vector"),
                    null, modulePath, PrefillMain.class.getModule().getName() + "/" + PrefillMain.class.getName(),
                    workerArgs, env, deadline, Duration.ofSeconds(2), null);
        }
        return ringattn.launch.LocalLauncher.Spec.sameJvm(PrefillMain.class.getName(), workerArgs, env, deadline);
    }

    private static int worker(LlamaModel model, int[] tokens, Args args, PrintStream out) {
        try (OutputFile file = args.out == null ? null
                : OutputFile.open(args.out, args.jobId, false, logitsLayout(tokens.length, model.config().vocabSize()));
             RingTransport t = ringattn.transport.ucx.Bootstrap.fromEnvironment(); Arena arena = Arena.ofShared()) {
            Prefill.Options o = new Prefill.Options(args.threadsPerRank(1), args.layout, args.timeout, 0);
            String crash = System.getenv("RINGATTN_CRASH_RANK");
            if (t.rank() == args.crashRank || (crash != null && crash.trim().equals(Integer.toString(t.rank())))) {
                // failure drill: this process dies at once, as a crashed rank would (no cleanup, exit 70)
                System.err.println("rank " + t.rank() + ": failure drill, halting");
                System.err.flush();
                Runtime.getRuntime().halt(70);
            }
            MemorySegment logits = file == null ? null : file.map(LOGITS, arena);
            Prefill.RankResult r = Prefill.runRank(model, t, tokens, o, logits);
            if (logits != null && logits.isMapped()) {
                logits.force(); // in the file before rank 0's launcher renames it
            }
            t.barrier(args.timeout);
            out.printf(Locale.ROOT, "%srank=%d tokens=%d seconds=%.6f attention=%.6f rss=%d heap=%d kernel=%s%n",
                    RESULT_TAG, r.rank(), r.tokens(), r.seconds(), r.attentionSeconds(), r.peakRssBytes(), r.heapPeakBytes(),
                    r.kernel());
            return OK;
        }
    }

    static Prefill.RankResult parseResult(String line) {
        Map<String, String> kv = new LinkedHashMap<>();
        for (String part : line.substring(line.indexOf(RESULT_TAG) + RESULT_TAG.length()).trim().split("\\s+")) {
            int eq = part.indexOf('=');
            if (eq > 0) {
                kv.put(part.substring(0, eq), part.substring(eq + 1));
            }
        }
        return new Prefill.RankResult(Integer.parseInt(kv.get("rank")), Integer.parseInt(kv.get("tokens")),
                Double.parseDouble(kv.get("seconds")), Double.parseDouble(kv.get("attention")),
                Long.parseLong(kv.get("rss")), Long.parseLong(kv.getOrDefault("heap", "-1")), kv.getOrDefault("kernel", "?"));
    }

    /** Forwards rank output lines, keeping the result lines aside. */
    static final class Tap extends OutputStream {
        private final PrintStream forward;
        private final ByteArrayOutputStream line = new ByteArrayOutputStream();
        private final List<String> results = new ArrayList<>();

        Tap(PrintStream forward) {
            this.forward = forward;
        }

        @Override
        public synchronized void write(int b) {
            if (b == '\n') {
                String s = line.toString(StandardCharsets.UTF_8);
                line.reset();
                if (s.contains(RESULT_TAG)) {
                    results.add(s);
                } else {
                    forward.println(s);
                }
            } else {
                line.write(b);
            }
        }

        synchronized List<String> results() {
            return new ArrayList<>(results);
        }
    }

    // ---- benchmark ----

    private static int bench(LlamaModel model, Args args, PrintStream out) {
        LlamaConfig c = model.config();
        out.printf(Locale.ROOT, "bench: model %s (%d layers, hidden %d, vocab %d), local ranks as threads, %d cores, "
                        + "threads/rank %s, best of %d%n",
                args.tiny ? "tiny" : args.model.toString(), c.layers(), c.hiddenSize(), c.vocabSize(),
                Runtime.getRuntime().availableProcessors(), args.threads > 0 ? Integer.toString(args.threads) : "cores/P",
                args.benchReps);
        // warm-up: JIT the kernels on a short sequence, on one rank and on a ring
        for (int p : new int[] {1, 2}) {
            Prefill.runLocal(model, TinyLlama.randomTokens(1024, c.vocabSize(), 7), p, options(args, p), null);
        }
        List<JsonLine> rows = new ArrayList<>();
        out.printf(Locale.ROOT, "%8s %3s %10s %12s %8s %12s%n", "S", "P", "seconds", "tokens/s", "attn %", "cpu-seconds");
        for (int s : args.benchSeqs) {
            int[] tokens = TinyLlama.randomTokens(s, c.vocabSize(), args.seed);
            for (int p : args.benchRanks) {
                double sec = Double.POSITIVE_INFINITY;
                double attn = 0;
                double cpu = Double.POSITIVE_INFINITY;
                for (int rep = 0; rep < args.benchReps; rep++) {
                    double cpu0 = Prefill.processCpuSeconds();
                    List<Prefill.RankResult> rs = Prefill.runLocal(model, tokens, p, options(args, p), null);
                    cpu = Math.min(cpu, Prefill.processCpuSeconds() - cpu0);
                    double s1 = rs.stream().mapToDouble(Prefill.RankResult::seconds).max().orElse(0);
                    if (s1 < sec) {
                        sec = s1;
                        attn = rs.stream().mapToDouble(Prefill.RankResult::attentionSeconds).max().orElse(0);
                    }
                }
                out.printf(Locale.ROOT, "%8d %3d %10.3f %12.1f %7.0f%% %12.2f%n", s, p, sec, s / sec, 100 * attn / sec, cpu);
                rows.add(new JsonLine().put("seq", s).put("ranks", p).put("seconds", sec).put("tokens_per_s", s / sec)
                        .put("cpu_seconds", cpu));
            }
        }
        if (args.json) {
            out.println(new JsonLine().put("bench", rows).put("peak_rss_bytes", PeakMemory.highWaterBytes())
                    .put("heap_peak_bytes", HeapHighWater.bytes()));
        }
        return OK;
    }
}
