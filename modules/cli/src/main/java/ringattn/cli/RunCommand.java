package ringattn.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import ringattn.engine.transport.InJvmRing;
import ringattn.io.JsonLine;
import ringattn.io.OutputFile;
import ringattn.transport.ucx.Bootstrap;
import ringattn.transport.ucx.RankBanner;
import ringattn.transport.ucx.TransportOptions;
import ringattn.transport.ucx.UcxTransport;

/**
 * {@code ringattn run}: exact attention on tensor files. Inputs are mapped and validated before any
 * compute; outputs are laid out in temporary files that every rank fills with its rows, and renamed
 * over the targets only when all ranks succeeded.
 */
final class RunCommand implements Command {
    static List<Option> options() {
        List<Option> o = new ArrayList<>(RunJob.options());
        o.add(Option.value("transport", "local|ucx", "local: ranks as threads (default); ucx: ranks as processes"));
        o.add(Option.flag("json", "print one JSON object as the last stdout line"));
        return o;
    }

    static List<Option> workerOptions() {
        List<Option> o = new ArrayList<>(RunJob.options());
        o.addAll(WorkerCommand.transportOptions());
        o.add(Option.value("outputs-ready", "IDS", "internal: the starting process created the outputs (these "
                + "temporary ids) and renames them"));
        return o;
    }

    @Override
    public String name() {
        return "run";
    }

    @Override
    public String summary() {
        return "exact attention on .npy / safetensors files";
    }

    @Override
    public String help() {
        return Command.help("run --q Q --k K --v V --out O [options]", """
                Exact (ring) attention on files: .npy (float32, float16; cu-seqlens int32/int64) or
                x.safetensors[:name] (F32, F16, BF16). Q [S, Hq, D], K and V [S, Hkv, D]. Writes O [S, Hq, D] in
                the inputs' dtype and LSE [Hq, S] float32; with --dout also dQ, dK, dV in the shapes and dtype of
                Q, K, V. Several outputs may name one safetensors file (x.safetensors:o, x.safetensors:lse). Every
                output appears complete or not at all. GFLOP/s is nominal: 4*S^2*D*H per forward, halved when
                causal (windows and documents not discounted), over the slowest rank's wall time; a backward counts
                2.5 forwards, as FlashAttention counts it.""", options());
    }

    @Override
    public int run(List<String> args, PrintStream out, PrintStream err) {
        Options o = Options.parse(name(), options(), args);
        String transport = o.choice("transport", "local", "local", "ucx");
        Device.resolve(o, err);
        String jobId = OutputFile.newJobId("run");
        try (Arena arena = Arena.ofShared()) {
            RunJob job = RunJob.load(o, 1, true, arena);
            List<OutputFile> files = job.createOutputs();
            List<RankReport> reports;
            List<Long> pids;
            try {
                if (transport.equals("local")) {
                    try (Arena outArena = Arena.ofShared()) {
                        Map<String, java.lang.foreign.MemorySegment> outs = job.mapOutputs(files, outArena);
                        RingProgress progress = job.progress("run", Progress.of(err, 1));
                        reports = InJvmRing.run(job.ranks, job.timeout, t -> RunRank.run(job, outs, t,
                                t.rank() == 0 ? progress : RingProgress.none()));
                    }
                    pids = List.of(ProcessHandle.current().pid());
                } else {
                    reports = runUcx(job, jobId, files, out, err);
                    pids = reports.stream().map(RankReport::pid).toList();
                }
                for (OutputFile f : files) {
                    f.commit();
                }
            } finally {
                files.forEach(OutputFile::close); // deletes what was not committed
            }
            print(job, transport, reports, pids, o.flag("json"), out);
        }
        return ExitCode.OK;
    }

    private static List<RankReport> runUcx(RunJob job, String jobId, List<OutputFile> files, PrintStream out,
            PrintStream err) {
        String tempIds = RunJob.tempIds(files);
        Path dir = null;
        try {
            dir = ScratchDir.create("run");
            ScratchDir.recordTempOutputs(dir, files.stream().map(OutputFile::tempPath).toList());
            Path report = dir.resolve("reports.jsonl");
            List<String> args = new ArrayList<>(List.of("run"));
            args.addAll(job.workerArgs());
            args.add("--outputs-ready=" + tempIds);
            args.add("--report=" + report);
            RankLauncher.run(job.ranks, RankHeap.option(job.seqLen, job.ranks, job.heads, job.kvHeads, job.headDim,
                    job.threads, job.dOut != null), args, Map.of("RINGATTN_JOB_ID", jobId, ScratchDir.ENV, dir.toString()),
                    job.timeout.multipliedBy(4).plusMinutes(30), out, err);
            List<RankReport> reports = new ArrayList<>();
            for (String line : Files.readAllLines(report, StandardCharsets.UTF_8)) {
                if (!line.isBlank()) {
                    reports.add(RankReport.fromJson(line.getBytes(StandardCharsets.UTF_8)));
                }
            }
            return reports;
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("run: cannot exchange rank reports: " + e.getMessage(), e);
        } finally {
            ScratchDir.deleteTree(dir);
        }
    }

    /** {@code worker run ...}: one rank over UCX. */
    static int runWorker(List<String> args, PrintStream out, PrintStream err) {
        Options o = Options.parse("worker run", workerOptions(), args);
        TransportOptions topts = WorkerCommand.transportOptions(o, System.getenv());
        boolean ready = o.has("outputs-ready");
        try (Arena arena = Arena.ofShared()) {
            RunJob job = RunJob.load(o, topts.worldSize(), false, arena);
            topts = WorkerCommand.forJob(topts, job.timeout);
            if (job.ranks != topts.worldSize()) {
                throw new UsageException("--ranks", job.ranks + " differs from the job's world size " + topts.worldSize());
            }
            RankBanner.print(topts);
            try (UcxTransport transport = Bootstrap.connect(topts.withJobParams("run " + String.join(" ", job.workerArgs())))) {
                boolean creator = transport.rank() == 0 && !ready;
                List<OutputFile> files = List.of();
                try {
                    String tempIds = ready ? o.required("outputs-ready") : "";
                    if (creator) {
                        files = job.createOutputs();
                        tempIds = RunJob.tempIds(files);
                    }
                    // rank 0 tells every rank the unpredictable temporary names (and that the files exist)
                    byte[][] ids = transport.allGather(tempIds.getBytes(StandardCharsets.UTF_8), job.timeout);
                    if (!creator) {
                        files = job.openOutputs(new String(ids[0], StandardCharsets.UTF_8));
                    }
                    RankReport mine;
                    try (Arena outArena = Arena.ofShared()) {
                        mine = RunRank.run(job, job.mapOutputs(files, outArena), transport, transport.rank() == 0
                                ? job.progress("run rank 0", Progress.of(err, 1)) : RingProgress.none());
                    }
                    List<RankReport> all = WorkerCommand.gather(transport, mine, job.timeout);
                    if (creator) {
                        for (OutputFile f : files) {
                            f.commit();
                        }
                    }
                    if (transport.rank() == 0) {
                        if (o.has("report")) {
                            WorkerCommand.writeReport(o, all.stream().map(RankReport::toJson).toList());
                        } else {
                            print(job, "ucx", all, all.stream().map(RankReport::pid).toList(), o.flag("json"), out);
                        }
                    }
                    transport.barrier(job.timeout);
                    return ExitCode.OK;
                } catch (RuntimeException | Error e) {
                    transport.abort(e);
                    throw e;
                } finally {
                    files.forEach(OutputFile::close); // the creator deletes what it did not commit
                }
            }
        }
    }

    private static void print(RunJob job, String transport, List<RankReport> reports, List<Long> pids, boolean json,
                              PrintStream out) {
        double fwd = reports.stream().mapToLong(RankReport::forwardNanos).max().orElse(0) / 1e9;
        double bwd = reports.stream().mapToLong(RankReport::backwardNanos).max().orElse(0) / 1e9;
        boolean causal = job.spec.causal();
        double fwdFlops = Flops.forward(job.seqLen, job.heads, job.headDim, causal);
        double bwdFlops = job.dOut != null ? Flops.backward(job.seqLen, job.heads, job.headDim, causal) : 0;
        double hidden = reports.stream().mapToDouble(RankReport::hiddenFraction).average().orElse(1);
        long peak = reports.stream().mapToLong(RankReport::peakRssBytes).max().orElse(-1);
        long heapPeak = reports.stream().mapToLong(RankReport::heapPeakBytes).max().orElse(-1);
        if (json) {
            JsonLine outputs = new JsonLine();
            job.outputSpecs.forEach(outputs::put);
            out.println(new JsonLine().put("ranks", job.ranks).put("seq", job.seqLen).put("heads", job.heads)
                    .put("kv_heads", job.kvHeads).put("head_dim", job.headDim)
                    .put("dtype", job.q.type().toString()).put("causal", causal)
                    .put("window", job.spec.window()).put("documents", job.spec.hasDocuments())
                    .put("scale", (double) job.spec.scale()).put("layout", job.layout.name().toLowerCase(Locale.ROOT))
                    .put("transport", transport)
                    .put("device", String.join("+", reports.stream().map(r -> String.valueOf(r.device())).distinct().toList()))
                    .put("pids", pids)
                    .put("seconds", fwd).put("gflops", Flops.gflops(fwdFlops, fwd)).put("flops", fwdFlops)
                    .put("flops_convention", Flops.forwardConvention(causal) + "; backward " + Flops.BACKWARD_FACTOR
                            + "x forward")
                    .put("forward_seconds", fwd).put("backward_seconds", bwd)
                    .put("backward_flops", bwdFlops).put("backward_gflops", Flops.gflops(bwdFlops, bwd))
                    .put("hidden_comm_fraction", hidden)
                    .put("peak_rss_bytes_per_rank", peak)
                    .put("peak_rss_bytes_by_rank", reports.stream().map(RankReport::peakRssBytes).toList())
                    .put("heap_peak_bytes_per_rank", heapPeak)
                    .put("heap_peak_bytes_by_rank", reports.stream().map(RankReport::heapPeakBytes).toList())
                    .put("outputs", outputs));
        } else {
            out.printf(Locale.ROOT, "run: S=%d heads=%d kv_heads=%d head_dim=%d %s%s, %d rank(s) (%s): forward %.3f s "
                            + "(%.1f GFLOP/s)%s%n", job.seqLen, job.heads, job.kvHeads, job.headDim, job.q.type(),
                    causal ? " causal" : "", job.ranks, transport, fwd, Flops.gflops(fwdFlops, fwd),
                    job.dOut != null ? String.format(Locale.ROOT, ", backward %.3f s (%.1f GFLOP/s)", bwd,
                            Flops.gflops(bwdFlops, bwd)) : "");
            job.outputSpecs.forEach((k, v) -> out.println("  wrote " + k + " " + job.outputArrays.get(k) + " -> " + v));
        }
        out.flush();
    }
}
