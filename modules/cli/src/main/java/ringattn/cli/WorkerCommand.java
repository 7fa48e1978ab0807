package ringattn.cli;

import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import ringattn.engine.transport.RingTransport;
import ringattn.io.AtomicFile;
import ringattn.launch.LauncherWatch;
import ringattn.transport.ucx.Bootstrap;
import ringattn.transport.ucx.RankBanner;
import ringattn.transport.ucx.TransportOptions;
import ringattn.transport.ucx.UcxTransport;

/**
 * {@code ringattn worker [demo|run|prefill|generate] ...}: one rank of a job started by srun, mpirun or
 * {@code demo/run/prefill --transport ucx}. Rank and world size come from the launcher's environment
 * (Slurm, Open MPI, PMI or RINGATTN_*), the address exchange from {@code --coordinator} or
 * {@code --rendezvous} (or RINGATTN_COORDINATOR / RINGATTN_RENDEZVOUS_DIR). Rank 0 prints the
 * summary (or writes every rank's report to {@code --report}); a demo result outside
 * {@code --tolerance} makes every rank exit 1. A rank started by {@code demo/run --transport ucx}
 * stops with exit code 3 when that launcher dies ({@link LauncherWatch}).
 */
final class WorkerCommand implements Command {
    static List<Option> transportOptions() {
        return List.of(
                Option.value("coordinator", "HOST:PORT", "rank 0 serves the job's control plane here "
                        + "(or RINGATTN_COORDINATOR)"),
                Option.value("rendezvous", "DIR", "shared directory for the address exchange (or RINGATTN_RENDEZVOUS_DIR)"),
                Option.value("job-id", "ID", "job id every rank shares (default: from SLURM_JOB_ID etc.)"),
                Option.value("bind", "ADDR", "address rank 0's coordinator binds (default 127.0.0.1 or RINGATTN_BIND)"),
                Option.value("data-path", "tag|put", "how K/V blocks move over UCX (default tag)"),
                Option.value("bootstrap", "auto|pmix|coordinator|rendezvous", "how ranks find each other (default auto: "
                        + "--coordinator or --rendezvous when given, else PMIx under mpirun or srun --mpi=pmix; or "
                        + "RINGATTN_BOOTSTRAP)"),
                Option.flag("insecure", "allow a job of several ranks without a job secret (RINGATTN_SECRET or "
                        + "RINGATTN_SECRET_FILE): anyone who reaches the coordinator could join (or RINGATTN_INSECURE=1)"),
                Option.value("report", "FILE", "rank 0 writes every rank's report here (one JSON line per rank) "
                        + "instead of printing"),
                Option.flag("json", "rank 0 prints one JSON summary line instead of the table"));
    }

    static List<Option> demoOptions() {
        List<Option> o = new ArrayList<>(DemoJob.options());
        o.addAll(transportOptions());
        return o;
    }

    @Override
    public String name() {
        return "worker";
    }

    @Override
    public String summary() {
        return "one rank of a job, for srun / mpirun";
    }

    @Override
    public String help() {
        return Command.help("worker [demo|run|prefill|generate] [options]", """
                One rank of a multi-process job (srun, mpirun, or started by demo/run/prefill/generate --transport ucx). Rank and
                world size come from SLURM_PROCID/SLURM_NTASKS, OMPI_COMM_WORLD_RANK/SIZE, PMI_RANK/SIZE or
                RINGATTN_RANK/RINGATTN_WORLD_SIZE; the job secret from RINGATTN_SECRET or RINGATTN_SECRET_FILE.
                'worker demo' takes the demo's options; 'worker run' takes run's options (files on a shared
                filesystem; rank 0 creates the outputs and renames them when every rank has written its rows);
                'worker prefill' takes prefill's options (the model, tokens and --out as run's files);
                'worker generate' takes generate's options (rank 0 prints the text and the figures).
                Each rank prints 'rank R/N pid P host H' on stderr at start. --ranks defaults to the job's
                world size. A demo whose error exceeds --tolerance (or is NaN) exits 1 on every rank, after rank 0
                printed the result and one 'error:' line. The transport options below apply to both tasks.""", demoOptions())
                + "\nrun options (worker run; plus the transport options above):\n"
                + optionLines(RunJob.options())
                + "\nprefill options (worker prefill; plus the transport options above):\n"
                + optionLines(PrefillJob.options())
                + "\ngenerate options (worker generate; plus the transport options above):\n"
                + optionLines(GenerateJob.options());
    }

    /** The option lines of a help text, without --help and --debug. */
    private static String optionLines(List<Option> options) {
        return Command.help("", "", options).lines()
                .filter(l -> l.startsWith("  --") && !l.startsWith("  --help") && !l.startsWith("  --debug"))
                .reduce("", (a, b) -> a + b + "\n");
    }

    @Override
    public int run(List<String> args, PrintStream out, PrintStream err) {
        // Started by demo/run --transport ucx: stop (and delete the launcher's scratch directory) if it dies.
        LauncherWatch.startFromEnvironment(System.getenv(), () -> ScratchDir.deleteNamedIn(System.getenv()));
        List<String> rest = new ArrayList<>(args);
        String task = "demo";
        if (!rest.isEmpty() && !rest.getFirst().startsWith("--")) {
            task = rest.removeFirst();
        }
        return switch (task) {
            case "demo" -> runDemo(Options.parse("worker demo", demoOptions(), rest), out, err);
            case "run" -> RunCommand.runWorker(rest, out, err);
            case "prefill" -> PrefillCommand.runWorker(rest, out, err);
            case "generate" -> GenerateCommand.runWorker(rest, out, err);
            default -> throw new UsageException(task, "unknown worker task (expected demo, run, prefill or generate)");
        };
    }

    /**
     * Transport options from the flags, then the environment: the failure bound is {@code --timeout},
     * else RINGATTN_TIMEOUT, else {@link TransportOptions#DEFAULT_TIMEOUT}.
     */
    static TransportOptions transportOptions(Options o, java.util.Map<String, String> env) {
        TransportOptions t = TransportOptions.defaults();
        if (o.has("timeout")) {
            t = t.withTimeout(DemoJob.explicitTimeout(o));
        }
        if (o.flag("insecure")) {
            t = t.withInsecure(true);
        }
        if (o.has("bootstrap")) {
            t = t.withExchange(TransportOptions.AddressExchange.valueOf(o.choice("bootstrap", "auto", "auto", "pmix",
                    "coordinator", "rendezvous").toUpperCase(java.util.Locale.ROOT)));
        }
        if (o.has("coordinator")) {
            t = t.withCoordinator(o.required("coordinator"));
        }
        if (o.has("rendezvous")) {
            t = t.withRendezvousDir(Path.of(o.required("rendezvous")));
        }
        if (o.has("job-id")) {
            t = t.withJobId(o.required("job-id"));
        }
        if (o.has("bind")) {
            t = t.withBindAddress(o.required("bind"));
        }
        if (o.has("data-path")) {
            t = t.withDataPath(TransportOptions.DataPath.valueOf(
                    o.choice("data-path", "tag", "tag", "put").toUpperCase(java.util.Locale.ROOT)));
        }
        t = t.withDefaultsFrom(env);
        if (t.rank() == null || t.worldSize() == null) {
            throw new UsageException("rank", "not set: run under srun or mpirun, set RINGATTN_RANK and "
                    + "RINGATTN_WORLD_SIZE, or use 'demo --transport ucx' to start the ranks");
        }
        return t;
    }

    /**
     * {@code t} with the job's wait bound: the larger of the failure bound and the job's own bound
     * on a wait for another rank's data (which a big job raises; a stopped rank is still reported
     * within the failure bound, by the heartbeats).
     */
    static TransportOptions forJob(TransportOptions t, Duration jobWait) {
        return t.withWaitBound(jobWait.compareTo(t.timeout()) > 0 ? jobWait : t.timeout());
    }

    private static int runDemo(Options o, PrintStream out, PrintStream err) {
        TransportOptions topts = transportOptions(o, System.getenv());
        DemoJob job = DemoJob.from(o, topts.worldSize(), false);
        DemoTolerance tolerance = DemoTolerance.from(o, job.dtype());
        topts = forJob(topts, job.timeout());
        if (job.ranks() != topts.worldSize()) {
            throw new UsageException("--ranks", job.ranks() + " differs from the job's world size " + topts.worldSize());
        }
        RankBanner.print(topts);
        try (UcxTransport transport = Bootstrap.connect(topts.withJobParams("demo " + String.join(" ", job.toArgs())))) {
            try {
                RankReport mine = DemoRank.run(job, transport, transport.rank() == 0
                        ? job.progress("demo rank 0", Progress.of(err, 1)) : RingProgress.none());
                List<RankReport> all = gather(transport, mine, job.timeout());
                DemoSummary summary = new DemoSummary(job, "ucx", all);
                if (transport.rank() == 0) {
                    publish(o, summary, all, out);
                }
                transport.barrier(job.timeout());
                return verdict(o, tolerance, summary, transport.rank(), err);
            } catch (RuntimeException | Error e) {
                transport.abort(e);
                throw e;
            }
        }
    }

    /**
     * The worker's exit code for the demo's result. With {@code --report} the launching {@code demo}
     * reads the reports and decides, so every rank exits 0. Otherwise every rank holds the same
     * gathered reports, so each reaches rank 0's verdict: a result outside the tolerance makes every
     * rank exit 1 (whichever rank's code a launcher reports, it is not hidden by a 0), and rank 0 alone
     * prints the {@code error:} line.
     */
    static int verdict(Options o, DemoTolerance tolerance, DemoSummary summary, int rank, PrintStream err) {
        if (o.has("report")) {
            return ExitCode.OK;
        }
        return DemoCommand.verdict(tolerance, summary, rank == 0 ? err : new PrintStream(OutputStream.nullOutputStream()));
    }

    /** Every rank's report, by rank. Collective. */
    static List<RankReport> gather(RingTransport transport, RankReport mine, Duration timeout) {
        byte[][] parts = transport.allGather(mine.toBytes(), timeout);
        List<RankReport> all = new ArrayList<>();
        for (byte[] p : parts) {
            all.add(RankReport.fromJson(p));
        }
        return all;
    }

    private static void publish(Options o, DemoSummary summary, List<RankReport> all, PrintStream out) {
        if (o.has("report")) {
            writeReport(o, all.stream().map(RankReport::toJson).toList());
        } else if (o.flag("json")) {
            out.println(summary.toJson());
        } else {
            summary.printTable(out);
        }
        out.flush();
    }

    /** Writes every rank's report (one JSON object each, by rank) to {@code --report}, one per line, atomically. */
    static void writeReport(Options o, List<String> reports) {
        try (AtomicFile f = AtomicFile.create(Path.of(o.required("report")))) {
            for (String r : reports) {
                f.write(java.nio.ByteBuffer.wrap((r + "\n").getBytes(StandardCharsets.UTF_8)));
            }
            f.commit();
        } catch (ringattn.io.FileFormatException e) {
            throw new UsageException("--report", e.getMessage());
        }
    }
}
