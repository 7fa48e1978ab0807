package ringattn.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import ringattn.engine.transport.RankFailedException;
import ringattn.io.OutputFile;
import ringattn.model.Prefill;
import ringattn.transport.ucx.Bootstrap;
import ringattn.transport.ucx.RankBanner;
import ringattn.transport.ucx.TransportOptions;
import ringattn.transport.ucx.UcxTransport;

/**
 * {@code ringattn prefill}: a Llama-style model's prefill of a long token sequence with ring attention
 * in every layer, across ranks as threads of this JVM ({@code local}) or as {@code worker prefill}
 * processes over UCX; prints each rank's time and peak memory and the tokens/s, and writes the
 * logits with {@code --out} (complete or not at all, as {@code run} writes its outputs).
 */
final class PrefillCommand implements Command {
    /** How long the ranks of a {@code --transport ucx} job may run in all. */
    private static final Duration UCX_DEADLINE = Duration.ofHours(6);

    static List<Option> options() {
        List<Option> o = new ArrayList<>(PrefillJob.options());
        o.add(Option.value("transport", "local|ucx", "local: ranks as threads (default); ucx: ranks as processes"));
        o.add(Option.flag("json", "print one JSON object as the last stdout line"));
        o.addAll(PrefillBench.options());
        return o;
    }

    static List<Option> workerOptions() {
        List<Option> o = new ArrayList<>(PrefillJob.options());
        o.addAll(WorkerCommand.transportOptions());
        o.add(Option.value("outputs-ready", "ID", "internal: the starting process created --out's temporary file "
                + "(this id) and renames it"));
        return o;
    }

    @Override
    public String name() {
        return "prefill";
    }

    @Override
    public String summary() {
        return "a Llama-style model's long-context prefill on the ring";
    }

    @Override
    public String help() {
        return Command.help("prefill (--model DIR|FILE.gguf | --tiny) (--tokens FILE.npy | --random S) [options]\n"
                + "       ringattn prefill --bench [--model DIR|FILE.gguf | --tiny] [--bench-seqs S,...] [--bench-ranks P,...]", """
                Runs the model over the whole sequence with every rank holding only its shard of the activations
                and every layer's attention on the ring (causal, zigzag by default). Prints each rank's tokens,
                seconds (after a start barrier: JVM start and weight mapping excluded), time in ring attention,
                peak RSS and heap, then tokens/s = S / the slowest rank's seconds. --out writes the logits
                [S, vocab] float32 .npy, each rank its own rows; the file appears only when every rank succeeded.""",
                options());
    }

    @Override
    public int run(List<String> args, PrintStream out, PrintStream err) {
        Options o = Options.parse(name(), options(), args);
        String transport = o.choice("transport", "local", "local", "ucx");
        boolean bench = o.flag("bench");
        try (PrefillJob job = PrefillJob.load(o, 1, bench)) {
            if (bench) {
                return PrefillBench.run(job, o, o.flag("json"), out);
            }
            List<PrefillReport> reports;
            try (OutputFile file = job.out == null ? null : job.createOutput()) {
                reports = transport.equals("local") ? runLocal(job, file, out) : runUcx(job, file, out, err);
                if (file != null) {
                    file.commit();
                }
            } // an uncommitted file is deleted
            PrefillSummary.print(out, job, reports, transport, o.flag("json"));
            return ExitCode.OK;
        }
    }

    /** The ranks as threads of this JVM, writing their logits rows into {@code file}'s mapping. */
    private static List<PrefillReport> runLocal(PrefillJob job, OutputFile file, PrintStream out) {
        Prefill.Options options = job.prefillOptions(job.ranks);
        PrefillSummary.banner(out, job, "local", options.threads());
        try (Arena arena = Arena.ofShared()) {
            MemorySegment logits = file == null ? null : file.map(PrefillJob.LOGITS, arena);
            return Prefill.runLocal(job.model, job.tokens, job.ranks, options, logits).stream().map(PrefillReport::of).toList();
        } catch (RankFailedException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new RankFailure(-1, "a rank failed: " + e); // a local rank's own failure is a failed rank too
        }
    }

    /**
     * JVM options for the rank processes of {@code job}: for a job the scalar kernels run
     * ({@link PrefillJob#scalarKernels}), C1 only ({@code -XX:TieredStopAtLevel=1}): C2's compile time never
     * pays off within such a job, and several JVMs compiling at once share the host's cores (README,
     * "Cold start and memory"). Nothing for larger jobs, whose vector kernels need C2.
     */
    static List<String> rankJvmOptions(PrefillJob job) {
        return Prefill.scalarFor(job.model.config(), job.tokens.length, job.ranks) ? List.of("-XX:TieredStopAtLevel=1")
                : List.of();
    }

    /**
     * The ranks as {@code worker prefill} processes over UCX; they write their rows into {@code file}
     * (created here, its temporary id passed on) and rank 0 writes every rank's report to a file in a
     * {@link ScratchDir}, which the ranks delete, with the temporary output, if this process is killed.
     */
    private static List<PrefillReport> runUcx(PrefillJob job, OutputFile file, PrintStream out, PrintStream err) {
        int threads = job.threadsPerRank(job.ranks);
        PrefillSummary.banner(out, job, "ucx", threads);
        Path dir = null;
        try {
            dir = ScratchDir.create("prefill");
            if (file != null) {
                ScratchDir.recordTempOutputs(dir, List.of(file.tempPath()));
            }
            Path report = dir.resolve("reports.jsonl");
            List<String> args = new ArrayList<>(List.of("prefill"));
            args.addAll(job.workerArgs(threads));
            if (file != null) {
                args.add("--outputs-ready=" + file.tempId());
            }
            args.add("--report=" + report);
            RankLauncher.run(job.ranks, rankJvmOptions(job), args, Map.of(ScratchDir.ENV, dir.toString()), UCX_DEADLINE,
                    out, err);
            List<PrefillReport> reports = new ArrayList<>();
            for (String line : Files.readAllLines(report, StandardCharsets.UTF_8)) {
                if (!line.isBlank()) {
                    reports.add(PrefillReport.fromJson(line.getBytes(StandardCharsets.UTF_8)));
                }
            }
            return reports;
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("prefill: cannot read the rank reports: " + e.getMessage(), e);
        } finally {
            ScratchDir.deleteTree(dir);
        }
    }

    /**
     * {@code worker prefill ...}: one rank over UCX. Rank 0 creates {@code --out}'s temporary file
     * (unless the starting process did: {@code --outputs-ready}) and tells the others its id; every
     * rank writes its rows; rank 0 renames the file once every rank has reported, then prints the
     * summary or writes the reports to {@code --report}.
     */
    static int runWorker(List<String> args, PrintStream out, PrintStream err) {
        Options o = Options.parse("worker prefill", workerOptions(), args);
        TransportOptions topts = WorkerCommand.transportOptions(o, System.getenv());
        try (PrefillJob job = PrefillJob.load(o, topts.worldSize(), false)) {
            topts = WorkerCommand.forJob(topts, job.timeout);
            if (job.ranks != topts.worldSize()) {
                throw new UsageException("--ranks", job.ranks + " differs from the job's world size " + topts.worldSize());
            }
            RankBanner.print(topts);
            try (UcxTransport transport = Bootstrap.connect(topts.withJobParams(job.jobParams()))) {
                try {
                    return runRank(job, o, transport, out);
                } catch (RuntimeException | Error e) {
                    transport.abort(e);
                    throw e;
                }
            }
        }
    }

    private static int runRank(PrefillJob job, Options o, UcxTransport transport, PrintStream out) {
        boolean ready = o.has("outputs-ready");
        boolean creator = transport.rank() == 0 && !ready && job.out != null;
        OutputFile file = null;
        try {
            if (job.out != null) {
                String tempId = ready ? o.required("outputs-ready") : "";
                if (creator) {
                    file = job.createOutput();
                    tempId = file.tempId();
                }
                // rank 0 tells every rank the unpredictable temporary name (and that the file exists)
                byte[][] ids = transport.allGather(tempId.getBytes(StandardCharsets.UTF_8), job.timeout);
                if (!creator) {
                    file = job.openOutput(new String(ids[0], StandardCharsets.UTF_8));
                }
            }
            crashDrill(job, transport.rank());
            PrefillReport mine;
            try (Arena arena = Arena.ofShared()) {
                MemorySegment logits = file == null ? null : file.map(PrefillJob.LOGITS, arena);
                mine = PrefillReport.of(Prefill.runRank(job.model, transport, job.tokens,
                        job.prefillOptions(DemoJob.ranksPerNode()), logits));
                if (logits != null && logits.isMapped()) {
                    logits.force(); // in the file before rank 0 renames it
                }
            }
            List<PrefillReport> all = new ArrayList<>();
            for (byte[] p : transport.allGather(mine.toBytes(), job.timeout)) {
                all.add(PrefillReport.fromJson(p));
            }
            all.sort(Comparator.comparingInt(p -> p.result().rank()));
            if (creator) {
                file.commit();
            }
            if (transport.rank() == 0) {
                if (o.has("report")) {
                    WorkerCommand.writeReport(o, all.stream().map(PrefillReport::toJson).toList());
                } else {
                    PrefillSummary.print(out, job, all, "ucx", o.flag("json"));
                }
            }
            transport.barrier(job.timeout);
            return ExitCode.OK;
        } finally {
            if (file != null) {
                file.close(); // the creator deletes what it did not commit
            }
        }
    }

    /**
     * The failure drill: the rank named by {@code --crash-rank} (or, in a launched rank,
     * RINGATTN_CRASH_RANK: {@link DemoRank#crashIfAsked}) dies at once, as a crashed rank would (no
     * cleanup, exit 70).
     */
    private static void crashDrill(PrefillJob job, int rank) {
        if (rank == job.crashRank) {
            System.err.println("rank " + rank + ": failure drill (--crash-rank), halting");
            System.err.flush();
            Runtime.getRuntime().halt(70);
        }
        DemoRank.crashIfAsked(rank);
    }
}
