package ringattn.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import ringattn.engine.transport.InJvmRing;

/**
 * {@code ringattn demo}: exact ring attention on seeded random inputs, each rank generating its own
 * shard, checked against the fp64 single-device reference on sampled rows; prints a table (or one
 * JSON line with {@code --json}).
 */
final class DemoCommand implements Command {
    static List<Option> options() {
        List<Option> o = new ArrayList<>(DemoJob.options());
        o.add(Option.value("transport", "local|ucx", "ucx: ranks as separate processes over UCX (default); "
                + "local: ranks as threads of this JVM"));
        o.add(Option.flag("json", "print one JSON object as the last stdout line instead of the table"));
        return o;
    }

    @Override
    public String name() {
        return "demo";
    }

    @Override
    public String summary() {
        return "exact ring attention on seeded random inputs, checked against one device";
    }

    @Override
    public String help() {
        return Command.help("demo [options]", """
                Runs the forward ring over N ranks on seeded random Q, K, V (each rank generates its own shard
                from the seed and the global positions, so no input moves), then checks the output against the
                fp64 single-device reference: every row when S <= 2048, else --check-rows rows (seeded, all
                heads). Prints ranks, S, seconds (slowest rank's forward wall time, start-up and checking
                excluded), GFLOP/s (4*S^2*D*H per forward, halved when causal; windows not discounted), hidden
                communication, max abs error and peak RSS per rank (VmHWM). Exits 1, after the table, with one
                'error:' line when the error of O or LSE exceeds --tolerance or is NaN.""", options());
    }

    @Override
    public int run(List<String> args, PrintStream out, PrintStream err) {
        Options o = Options.parse(name(), options(), args);
        String transport = o.choice("transport", "ucx", "local", "ucx");
        Device.resolve(o, err);
        DemoJob job = DemoJob.from(o, 4, true);
        DemoTolerance tolerance = DemoTolerance.from(o, job.dtype());
        Progress progress = Progress.of(err, 2);
        progress.phase("running " + job.ranks() + " ranks (" + transport + ")");
        List<RankReport> reports = transport.equals("local") ? runLocal(job, job.progress("demo", progress))
                : runUcx(job, o.has("timeout"), out, err);
        progress.step("done");
        progress.finish();
        DemoSummary summary = new DemoSummary(job, transport, reports);
        if (o.flag("json")) {
            out.println(summary.toJson());
        } else {
            summary.printTable(out);
        }
        out.flush();
        return verdict(tolerance, summary, err);
    }

    /**
     * {@link ExitCode#OK}, or {@link ExitCode#FAILURE} after one {@code error:} line on {@code err}
     * when {@code summary} is outside {@code tolerance}.
     */
    static int verdict(DemoTolerance tolerance, DemoSummary summary, PrintStream err) {
        String failure = tolerance.failure(summary);
        if (failure == null) {
            return ExitCode.OK;
        }
        err.println("error: " + failure);
        err.flush();
        return ExitCode.FAILURE;
    }

    /** Ranks as threads over the in-JVM ring; rank 0 tells {@code progress} where it stands. */
    static List<RankReport> runLocal(DemoJob job, RingProgress progress) {
        return InJvmRing.run(job.ranks(), job.timeout(),
                t -> DemoRank.run(job, t, t.rank() == 0 ? progress : RingProgress.none()));
    }

    /**
     * Ranks as worker processes over UCX; rank 0 writes every rank's report to a file we read, in a
     * {@link ScratchDir} that the ranks delete if this process is killed. {@code timeoutGiven}: the
     * user set {@code --timeout} (else the workers keep their default failure bound and derive the
     * job's wait bound themselves).
     */
    static List<RankReport> runUcx(DemoJob job, boolean timeoutGiven, PrintStream out, PrintStream err) {
        Path dir = null;
        try {
            dir = ScratchDir.create("demo");
            Path report = dir.resolve("reports.jsonl");
            List<String> args = new ArrayList<>(List.of("demo"));
            args.addAll(job.toArgs());
            if (!timeoutGiven) {
                args.removeIf(a -> a.startsWith("--timeout="));
            }
            args.add("--report=" + report);
            Duration deadline = job.timeout().multipliedBy(4).plusMinutes(30);
            RankLauncher.run(job.ranks(), RankHeap.option(job.seqLen(), job.ranks(), job.heads(), job.kvHeads(), job.headDim(),
                    job.threads(), false), args, Map.of(ScratchDir.ENV, dir.toString()), deadline, out, err);
            List<RankReport> reports = new ArrayList<>();
            for (String line : Files.readAllLines(report, StandardCharsets.UTF_8)) {
                if (!line.isBlank()) {
                    reports.add(RankReport.fromJson(line.getBytes(StandardCharsets.UTF_8)));
                }
            }
            return reports;
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("demo: cannot exchange rank reports: " + e.getMessage(), e);
        } finally {
            ScratchDir.deleteTree(dir);
        }
    }
}
