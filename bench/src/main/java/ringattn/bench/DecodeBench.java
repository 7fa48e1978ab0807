package ringattn.bench;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import ringattn.engine.ring.ShardLayout;
import ringattn.launch.LauncherWatch;
import ringattn.launch.LocalLauncher;
import ringattn.model.Generation;
import ringattn.model.Prefill;
import ringattn.model.Sampler;
import ringattn.transport.ucx.Bootstrap;
import ringattn.transport.ucx.LogFormat;
import ringattn.transport.ucx.TransportOptions;
import ringattn.transport.ucx.UcxTransport;

/**
 * Decode speed against context length and rank count: for each context C and rank count P, a prompt
 * of BOS and C − 1 seeded random ids is prefilled over the ring, then N tokens are generated greedily
 * (no stop token). Printed per point, as one table row (or, with {@code --json}, one JSON line): the
 * prefill time, time to first token, decode tokens/s ((N − 1) steps over the decode time), the
 * attention over the cache shards and the cross-rank reduction in microseconds per layer per token,
 * the reduction's share, and peak RSS. Warm-up generations (N tokens after a shorter prompt, a few
 * rounds) come first, for the JIT: {@code ringattn generate --json} reports the same figures for one
 * cold run, whose first decode steps run before C2 has compiled them. {@code bench/decode.sh} runs it
 * beside llama.cpp's decode of the same GGUF and prompts.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp bench/target/benchmarks.jar \
 *   ringattn.bench.DecodeBench [--model DIR|FILE.gguf] [--contexts 1024,4096,16384,65536] [--ranks 1,2,4] [--new 64]
 *   [--threads 1] [--seed 42] [--transport local|ucx] [--warmup-context 1024] [--warmup-rounds 3]
 *   [--prompt-dir DIR]
 *   [--timeout 600] [--json]
 * </pre>
 *
 * {@code local}: ranks are threads of this JVM (in-JVM ring), each point after the warm-up in the same
 * JVM, so peak RSS is this process's high-water mark so far (decode.sh starts one JVM per point).
 * {@code ucx}: every point is a job of P rank processes started by {@link LocalLauncher} (UCX on this
 * host; each rank warms up as P threads of its own JVM first, then warms the transport's all-gather),
 * peak RSS the largest rank's. {@code --prompt-dir}
 * writes each context's prompt as {@code prompt-C.npy} (int64), for llama.cpp's driver.
 */
public final class DecodeBench {
    private static final String RESULT = "RESULT ";
    private static final String KERNEL = "KERNEL ";
    /** Tokens of the warm-up generation over UCX: enough decode steps for C2 to compile the transport's wait loops. */
    private static final int WARMUP_TOKENS = 512;

    /**
     * The options.
     *
     * @param model         checkpoint: a Hugging Face directory or a GGUF file
     * @param contexts      prompt lengths, tokens
     * @param ranks         rank counts
     * @param newTokens     tokens generated per point (≥ 2: the first comes from the prefill)
     * @param threads       worker threads per rank
     * @param seed          the prompts' seed
     * @param transport     {@code local} or {@code ucx}
     * @param warmupContext the warm-up prompt's length
     * @param warmupRounds  warm-up generations before the first point (0: none)
     * @param promptDir     where to write the prompts, or null
     * @param timeout       bound on any wait for another rank
     * @param json          one JSON line per point instead of the table
     */
    record Options(Path model, int[] contexts, int[] ranks, int newTokens, int threads, long seed, String transport,
                   int warmupContext, int warmupRounds, Path promptDir, Duration timeout, boolean json) {

        static Options parse(List<String> args) {
            Path model = Path.of("../shared/models/stories260K/stories260K.gguf");
            int[] contexts = {1024, 4096, 16384, 65536};
            int[] ranks = {1, 2, 4};
            int newTokens = 64;
            int threads = 1;
            long seed = 42;
            String transport = "local";
            int warmup = 1024;
            int warmupRounds = 3;
            Path promptDir = null;
            Duration timeout = Duration.ofSeconds(600);
            boolean json = false;
            for (int i = 0; i < args.size(); i++) {
                String name = args.get(i);
                if (name.equals("--json")) {
                    json = true;
                    continue;
                }
                if (i + 1 >= args.size()) {
                    throw new IllegalArgumentException(name + ": expected a value after it, or unknown option");
                }
                String v = args.get(++i);
                switch (name) {
                    case "--model" -> model = Path.of(v);
                    case "--contexts" -> contexts = positives(name, v);
                    case "--ranks" -> ranks = positives(name, v);
                    case "--new" -> newTokens = positive(name, v);
                    case "--threads" -> threads = positive(name, v);
                    case "--seed" -> seed = parseLong(name, v);
                    case "--transport" -> transport = switch (v) {
                        case "local", "ucx" -> v;
                        default -> throw new IllegalArgumentException(name + ": expected local or ucx, got '" + v + "'");
                    };
                    case "--warmup-context" -> warmup = positive(name, v);
                    case "--warmup-rounds" -> warmupRounds = v.equals("0") ? 0 : positive(name, v);
                    case "--prompt-dir" -> promptDir = Path.of(v);
                    case "--timeout" -> timeout = Duration.ofSeconds(positive(name, v));
                    default -> throw new IllegalArgumentException(name + ": unknown option (see DecodeBench's javadoc)");
                }
            }
            if (newTokens < 2) {
                throw new IllegalArgumentException("--new: must be >= 2 (the first token comes from the prefill), got "
                        + newTokens);
            }
            return new Options(model, contexts, ranks, newTokens, threads, seed, transport, warmup, warmupRounds,
                    promptDir, timeout, json);
        }

        /** The arguments that make a rank process run context {@code c} on {@code p} ranks. */
        List<String> rankArgs(int c, int p) {
            return List.of("--model", model.toString(), "--contexts", Integer.toString(c), "--ranks", Integer.toString(p),
                    "--new", Integer.toString(newTokens), "--threads", Integer.toString(threads), "--seed",
                    Long.toString(seed), "--warmup-context", Integer.toString(warmupContext), "--warmup-rounds",
                    Integer.toString(warmupRounds), "--timeout",
                    Long.toString(timeout.toSeconds()));
        }

        Generation.Options generation(int maxNew) {
            Prefill.Options prefill = new Prefill.Options(threads, ShardLayout.ZIGZAG, timeout, 0);
            return new Generation.Options(prefill, Sampler.Options.greedy(), maxNew, new int[0]);
        }

        private static int positive(String name, String v) {
            long x = parseLong(name, v);
            if (x < 1 || x > Integer.MAX_VALUE) {
                throw new IllegalArgumentException(name + ": expected a positive integer, got '" + v + "'");
            }
            return (int) x;
        }

        private static int[] positives(String name, String v) {
            return Arrays.stream(v.split(",", -1)).mapToInt(s -> positive(name, s)).toArray();
        }

        private static long parseLong(String name, String v) {
            try {
                return Long.parseLong(v);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(name + ": expected an integer, got '" + v + "'");
            }
        }
    }

    private DecodeBench() {
    }

    public static void main(String[] args) throws IOException {
        LogFormat.oneLine();
        List<String> rest = new ArrayList<>(List.of(args));
        boolean rankProcess = !rest.isEmpty() && rest.getFirst().equals("--rank-process");
        if (rankProcess) {
            rest.removeFirst();
        }
        Options o;
        try {
            o = Options.parse(rest);
        } catch (IllegalArgumentException e) {
            System.err.println("error: " + e.getMessage());
            System.exit(2);
            return;
        }
        if (!Files.exists(o.model())) {
            System.err.println("error: --model: " + o.model() + " does not exist (a checkpoint directory or a .gguf file)");
            System.exit(2);
        }
        if (rankProcess) {
            rankMain(o);
            return;
        }
        try {
            run(o);
        } catch (RuntimeException e) {
            System.err.println("error: " + e.getMessage());
            System.exit(1);
        }
    }

    private static void run(Options o) throws IOException {
        try (DecodeModel m = DecodeModel.open(o.model())) {
            if (o.promptDir() != null) {
                Files.createDirectories(o.promptDir());
                for (int c : o.contexts()) {
                    DecodeModel.writeTokens(o.promptDir().resolve("prompt-" + c + ".npy"), m.prompt(c, o.seed()));
                }
            }
            if (o.transport().equals("local")) {
                for (int i = 0; i < o.warmupRounds(); i++) {
                    for (int p : o.ranks()) {
                        Generation.runLocal(m.model(), m.prompt(o.warmupContext(), o.seed()), p,
                                o.generation(o.newTokens()), null);
                    }
                }
            }
            if (!o.json()) {
                System.out.println(DecodePoint.tableHeader());
            }
            for (int c : o.contexts()) {
                for (int p : o.ranks()) {
                    System.err.println("decode-bench: C=" + c + " P=" + p + " " + o.transport() + " ...");
                    DecodePoint point = o.transport().equals("local") ? local(m, o, c, p) : ucx(m, o, c, p);
                    System.out.println(o.json() ? point.toJson() : point.tableRow());
                }
            }
        }
    }

    /** Runs one point with the ranks as threads of this JVM. */
    static DecodePoint local(DecodeModel m, Options o, int c, int p) {
        List<Generation.RankResult> r = Generation.runLocal(m.model(), m.prompt(c, o.seed()), p,
                o.generation(o.newTokens()), null);
        return new DecodePoint(c, p, o.threads(), "local", m.config().layers(),
                r.stream().map(DecodePoint.RankFigures::of).toList(), r.getFirst().kernel());
    }

    /** Runs one point as a job of {@code p} rank processes; their figures come back on stdout. */
    private static DecodePoint ucx(DecodeModel m, Options o, int c, int p) {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("RINGATTN_TIMEOUT", Long.toString(o.timeout().toSeconds()));
        List<String> args = new ArrayList<>(List.of("--rank-process"));
        args.addAll(o.rankArgs(c, p));
        LocalLauncher.Spec same = LocalLauncher.Spec.sameJvm(DecodeBench.class.getName(), args, env,
                o.timeout().multipliedBy(2));
        List<String> jvm = new ArrayList<>(same.jvmArgs());
        // This JVM's -X and -XX options (heap, ISA) apply to the ranks too.
        ManagementFactory.getRuntimeMXBean().getInputArguments().stream().filter(a -> a.startsWith("-X")).forEach(jvm::add);
        LocalLauncher.Spec spec = new LocalLauncher.Spec(same.java(), jvm, same.classPath(), same.modulePath(),
                same.mainClass(), same.args(), same.env(), same.deadline(), same.failureGrace(), null);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        LocalLauncher.Result res = LocalLauncher.run(spec, p, new PrintStream(bytes, true, StandardCharsets.UTF_8),
                System.err);
        if (!res.succeeded()) {
            throw new IllegalStateException("C=" + c + " P=" + p + " over UCX: " + res.failure());
        }
        DecodePoint.RankFigures[] figures = new DecodePoint.RankFigures[p];
        String kernel = "?";
        for (String line : bytes.toString(StandardCharsets.UTF_8).split("\n")) {
            if (!line.startsWith("[rank ")) {
                continue;
            }
            int close = line.indexOf("] ");
            int rank = Integer.parseInt(line.substring(6, close));
            String text = line.substring(close + 2);
            if (text.startsWith(RESULT)) {
                figures[rank] = DecodePoint.RankFigures.parse(text.substring(RESULT.length()));
            } else if (text.startsWith(KERNEL) && rank == 0) {
                kernel = text.substring(KERNEL.length());
            }
        }
        for (int r = 0; r < p; r++) {
            if (figures[r] == null) {
                throw new IllegalStateException("C=" + c + " P=" + p + " over UCX: rank " + r + " printed no result");
            }
        }
        return new DecodePoint(c, p, o.threads(), "ucx", m.config().layers(), List.of(figures), kernel);
    }

    /** One rank of a {@link #ucx} job: warm up, run the point, print this rank's figures. */
    private static void rankMain(Options o) throws IOException {
        LauncherWatch.startFromEnvironment(System.getenv(), () -> { });
        int c = o.contexts()[0];
        int p = o.ranks()[0];
        try (DecodeModel m = DecodeModel.open(o.model())) {
            // A UCX transport serves one ring (its buffers are sized on the first call), so the warm-up
            // runs the same ranks as threads here, then one generation over a first UCX transport (the
            // transport's and the reduction's code, for the JIT), closed before the measured one opens.
            for (int i = 0; i < o.warmupRounds(); i++) {
                Generation.runLocal(m.model(), m.prompt(o.warmupContext(), o.seed()), p, o.generation(o.newTokens()),
                        null);
            }
            TransportOptions topts = TransportOptions.fromEnvironment(System.getenv());
            try (UcxTransport warm = Bootstrap.connect(topts.withJobId(topts.jobId() + "-warmup"))) {
                Generation.runRank(m.model(), warm, m.prompt(o.warmupContext(), o.seed()),
                        o.generation(Math.max(o.newTokens(), WARMUP_TOKENS)), null);
            }
            try (UcxTransport t = Bootstrap.connect(topts)) {
                if (t.worldSize() != p) {
                    throw new IllegalStateException("--ranks: " + p + " but the job has " + t.worldSize() + " ranks");
                }
                Generation.RankResult r = Generation.runRank(m.model(), t, m.prompt(c, o.seed()),
                        o.generation(o.newTokens()), null);
                System.out.println(RESULT + DecodePoint.RankFigures.of(r).toLine());
                System.out.println(KERNEL + r.kernel());
                System.out.flush();
            }
        } catch (RuntimeException e) {
            System.err.println("error: " + e.getMessage());
            System.exit(1);
        }
        System.exit(0);
    }
}
