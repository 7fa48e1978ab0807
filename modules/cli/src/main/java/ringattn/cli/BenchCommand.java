package ringattn.cli;

import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import ringattn.cli.bench.BenchPlot;
import ringattn.cli.bench.BenchPoint;
import ringattn.engine.tensor.DType;
import ringattn.io.AtomicFile;
import ringattn.io.JsonLine;

/**
 * {@code ringattn bench}: demo jobs over a grid of S, P and transports; writes bench.csv,
 * bench.json and bench.png (XChart) to {@code --out}, and prints one line per point.
 */
final class BenchCommand implements Command {
    static List<Option> options() {
        return List.of(
                Option.value("seqs", "S1,S2,..", "sequence lengths (default 1024,4096)"),
                Option.value("ranks", "P1,P2,..", "ring sizes (default 1,2,4)"),
                Option.value("head-dim", "D", "head dimension (default 128)"),
                Option.value("heads", "H", "query heads (default 8)"),
                Option.value("kv-heads", "K", "key/value heads (default: H)"),
                Option.flag("causal", "causal mask (default)"),
                Option.flag("no-causal", "no causal mask"),
                Option.value("dtype", "f32|bf16", "storage type (default f32)"),
                Option.value("transport", "local,ucx", "transports to sweep (default local,ucx)"),
                Option.value("check-rows", "R", "rows checked against the reference per point (default 16)"),
                Option.value("repeat", "R", "forward passes per point, the fastest reported (default 2)"),
                Option.value("warmup", "N", "untimed passes before measuring (default 1): local points share this "
                        + "JVM, so N demo runs of the first local point's shape come before the sweep; ucx points "
                        + "start fresh ranks, so each point's ranks run N more passes, never faster-reported"),
                Option.value("threads", "T", "compute threads per rank (default: cores / P, >= 1)"),
                Option.value("timeout", "SECONDS", "rank-failure bound per point (default 120)"),
                Option.value("out", "DIR", "where bench.csv, bench.json and bench.png go (default bench-out)"),
                Device.OPTION);
    }

    @Override
    public String name() {
        return "bench";
    }

    @Override
    public String summary() {
        return "sweeps over S, P and transport; CSV, JSON and a PNG plot";
    }

    @Override
    public String help() {
        return Command.help("bench [options]", """
                Runs the demo (seeded inputs, forward pass, sampled check) for every combination of --seqs, --ranks
                and --transport and writes DIR/bench.csv, DIR/bench.json (one object per point) and DIR/bench.png
                (throughput vs S, throughput vs P, hidden communication vs S). Throughput is nominal: 4*S^2*D*H per
                forward, halved when causal, over the slowest rank's forward wall time. Before measuring, --warmup
                untimed passes compile the kernels, so the first point measures the kernel, not the JIT.""", options());
    }

    @Override
    public int run(List<String> args, PrintStream out, PrintStream err) {
        Options o = Options.parse(name(), options(), args);
        String device = Device.resolve(o, err);
        List<Integer> seqs = o.intList("seqs", List.of(1024, 4096), 1, Integer.MAX_VALUE);
        List<Integer> ranks = o.intList("ranks", List.of(1, 2, 4), 1, 4096);
        List<String> transports = o.choiceList("transport", List.of("local", "ucx"), "local", "ucx");
        int headDim = o.intValue("head-dim", 128, 1, 65536);
        int heads = o.intValue("heads", 8, 1, 4096);
        int kvHeads = o.intValue("kv-heads", heads, 1, 4096);
        if (heads % kvHeads != 0) {
            throw new UsageException("--kv-heads", kvHeads + " does not divide --heads " + heads);
        }
        boolean causal = o.toggle("causal", true);
        DType dtype;
        try {
            dtype = DType.parse(o.string("dtype", "f32"));
        } catch (IllegalArgumentException e) {
            throw new UsageException("--dtype", "expected f32 or bf16, got '" + o.string("dtype", "") + "'");
        }
        int checkRows = o.intValue("check-rows", 16, 0, Integer.MAX_VALUE);
        int repeats = o.intValue("repeat", 2, 1, 1000);
        int warmup = o.intValue("warmup", 1, 0, 1000);
        Duration timeout = o.has("timeout") ? DemoJob.explicitTimeout(o) : Duration.ofSeconds(120);
        Path dir = Path.of(o.string("out", "bench-out"));
        try {
            Files.createDirectories(dir);
        } catch (java.io.IOException | RuntimeException e) {
            throw new UsageException("--out", "cannot create directory " + dir + ": " + e.getMessage());
        }
        if (!Files.isWritable(dir)) {
            throw new UsageException("--out", "cannot write in directory " + dir + ": permission denied or read-only");
        }
        List<BenchPoint> points = new ArrayList<>();
        int total = seqs.size() * ranks.size() * transports.size();
        Progress progress = Progress.of(err, total);
        if (transports.contains("local")) {
            int p = ranks.getFirst();
            int s = seqs.getFirst();
            DemoJob first = new DemoJob(p, s, heads, kvHeads, headDim, causal, 0, dtype, 42,
                    o.intValue("threads", DemoJob.defaultThreads(p), 1, 4096), 0, null, timeout, 1, device);
            warmUp(first, warmup, progress, err);
        }
        for (String transport : transports) {
            for (int p : ranks) {
                for (int s : seqs) {
                    int threads = o.intValue("threads", DemoJob.defaultThreads(p), 1, 4096);
                    boolean local = transport.equals("local");
                    DemoJob job = new DemoJob(p, s, heads, kvHeads, headDim, causal, 0, dtype, 42, threads, checkRows,
                            null, timeout, local ? repeats : repeats + warmup, device);
                    String name = transport + " P=" + p + " S=" + s;
                    progress.phase(name);
                    List<RankReport> reports = local ? DemoCommand.runLocal(job, job.progress("bench " + name, progress))
                            : DemoCommand.runUcx(job, true, err, err);
                    DemoSummary sum = new DemoSummary(job, transport, reports);
                    BenchPoint point = new BenchPoint(transport, p, s, heads, kvHeads, headDim, causal, threads,
                            sum.seconds(), sum.gflops(), sum.hiddenFraction(), sum.maxAbsErr(), sum.peakRss(), sum.heapPeak());
                    points.add(point);
                    progress.step(transport + " P=" + p + " S=" + s);
                    out.println(String.format(Locale.ROOT, "%-5s P=%-3d S=%-7d %8.3f s %8.1f GFLOP/s  hidden %5.1f%%  err %.1e",
                            transport, p, s, point.seconds(), point.gflops(), 100 * point.hiddenFraction(),
                            point.maxAbsErr()));
                    out.flush();
                }
            }
        }
        progress.finish();
        write(dir.resolve("bench.csv"), csv(points));
        write(dir.resolve("bench.json"), json(points));
        writeBytes(dir.resolve("bench.png"), BenchPlot.png(points));
        out.println("wrote " + dir.resolve("bench.csv") + ", " + dir.resolve("bench.json") + ", " + dir.resolve("bench.png"));
        return ExitCode.OK;
    }

    /**
     * {@code passes} untimed demo runs of {@code job} on the local transport, each announced on
     * {@code err} ({@code bench: warm-up 1/2: local P=1 S=1024, 0.812 s, not measured}), so that the
     * kernels are compiled before the first measured point.
     */
    static void warmUp(DemoJob job, int passes, Progress progress, PrintStream err) {
        for (int i = 1; i <= passes; i++) {
            String name = "warm-up " + i + "/" + passes + ": local P=" + job.ranks() + " S=" + job.seqLen();
            progress.phase(name);
            long t0 = System.nanoTime();
            DemoCommand.runLocal(job, RingProgress.none());
            err.println(String.format(Locale.ROOT, "bench: %s, %.3f s, not measured", name, (System.nanoTime() - t0) / 1e9));
            err.flush();
        }
    }

    static String csv(List<BenchPoint> points) {
        StringBuilder b = new StringBuilder(BenchPoint.CSV_HEADER).append('\n');
        points.forEach(p -> b.append(p.toCsv()).append('\n'));
        return b.toString();
    }

    static String json(List<BenchPoint> points) {
        StringBuilder b = new StringBuilder("[\n");
        for (int i = 0; i < points.size(); i++) {
            BenchPoint p = points.get(i);
            b.append("  ").append(new JsonLine().put("transport", p.transport()).put("ranks", p.ranks())
                    .put("seq", p.seqLen()).put("heads", p.heads()).put("kv_heads", p.kvHeads())
                    .put("head_dim", p.headDim()).put("causal", p.causal()).put("threads_per_rank", p.threads())
                    .put("seconds", p.seconds()).put("gflops", p.gflops())
                    .put("hidden_comm_fraction", p.hiddenFraction()).put("max_abs_err", p.maxAbsErr())
                    .put("peak_rss_bytes_per_rank", p.peakRssBytes()).put("heap_peak_bytes_per_rank", p.heapPeakBytes()))
                    .append(i + 1 < points.size() ? ",\n" : "\n");
        }
        return b.append("]\n").toString();
    }

    private static void write(Path file, String text) {
        writeBytes(file, text.getBytes(StandardCharsets.UTF_8));
    }

    private static void writeBytes(Path file, byte[] bytes) {
        try (AtomicFile f = AtomicFile.create(file)) {
            f.write(ByteBuffer.wrap(bytes));
            f.commit();
        } catch (ringattn.io.FileFormatException e) {
            throw new UsageException("--out", e.getMessage());
        }
    }
}
