package ringattn.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import ringattn.engine.transport.RankFailedException;
import ringattn.model.Generation;
import ringattn.transport.ucx.Bootstrap;
import ringattn.transport.ucx.RankBanner;
import ringattn.transport.ucx.TransportOptions;
import ringattn.transport.ucx.UcxTransport;

/**
 * {@code ringattn generate}: a ring prefill of the prompt that leaves the K/V cache sharded over the
 * ranks, then decoding over the sharded cache, the text streamed to stdout as tokens come; figures
 * (time to first token, prefill and decode tokens/s, peak memory per rank) on stderr, and with
 * {@code --json} one JSON object as the last stdout line. Ranks run as threads of this JVM
 * ({@code local}) or as {@code worker generate} processes over UCX; under srun or mpirun every rank
 * runs {@code worker generate} and rank 0 prints.
 */
final class GenerateCommand implements Command {
    private static final Duration UCX_DEADLINE = Duration.ofHours(6);

    static List<Option> options() {
        List<Option> o = new ArrayList<>(GenerateJob.options());
        o.add(Option.value("transport", "local|ucx", "local: ranks as threads (default); ucx: ranks as processes"));
        o.add(Option.flag("json", "print one JSON object as the last stdout line"));
        return o;
    }

    static List<Option> workerOptions() {
        List<Option> o = new ArrayList<>(GenerateJob.options());
        o.addAll(WorkerCommand.transportOptions());
        o.add(Option.flag("json", "rank 0 prints one JSON object as the last stdout line"));
        o.add(Option.value("stream", "FILE", "internal: rank 0 appends the generated text here instead of stdout"));
        return o;
    }

    @Override
    public String name() {
        return "generate";
    }

    @Override
    public String summary() {
        return "generate text after a long prompt, the K/V cache sharded over the ring";
    }

    @Override
    public String help() {
        return Command.help("generate (--model DIR|FILE.gguf | --tiny) (--prompt TEXT | --prompt-file F | --tokens F.npy) "
                + "[options]", """
                Prefills the prompt on the ring (every layer's K/V stays sharded where the ring left it), then
                generates: each new token's attention runs on every rank over its shard and the partial results
                combine exactly. The text streams to stdout; time to first token, prefill and decode tokens/s and
                each rank's peak memory go to stderr. --temperature 0 is greedy. Weights are replicated on every
                rank; the sequence, not the model, is what is split.""", options());
    }

    @Override
    public int run(List<String> args, PrintStream out, PrintStream err) {
        Options o = Options.parse(name(), options(), args);
        String transport = o.choice("transport", "local", "local", "ucx");
        try (GenerateJob job = GenerateJob.load(o, 1)) {
            GenerateSummary.banner(err, job, transport, job.threadsPerRank(job.ranks));
            List<GenerateReport> reports;
            if (transport.equals("local")) {
                TokenPrinter printer = new TokenPrinter(job, out);
                reports = runLocal(job, printer);
                printer.finish();
            } else {
                reports = runUcx(job, out, err); // rank 0's text, its newline included, comes through the stream
            }
            GenerateSummary.print(out, err, job, reports, transport, o.flag("json"));
            return ExitCode.OK;
        }
    }

    private static List<GenerateReport> runLocal(GenerateJob job, TokenPrinter printer) {
        try {
            return Generation.runLocal(job.model, job.prompt, job.ranks, job.generationOptions(job.ranks), printer::accept)
                    .stream().map(GenerateReport::of).toList();
        } catch (RankFailedException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new RankFailure(-1, "a rank failed: " + e);
        }
    }

    /**
     * The ranks as {@code worker generate} processes over UCX: rank 0 appends the text to a file in a
     * {@link ScratchDir}, which this process copies to stdout as it grows, and writes every rank's
     * report there at the end.
     */
    private static List<GenerateReport> runUcx(GenerateJob job, PrintStream out, PrintStream err) {
        int threads = job.threadsPerRank(job.ranks);
        Path dir = null;
        try {
            dir = ScratchDir.create("generate");
            Path report = dir.resolve("reports.jsonl");
            Path stream = dir.resolve("text.stream");
            Files.createFile(stream);
            List<String> args = new ArrayList<>(List.of("generate"));
            args.addAll(job.workerArgs(threads));
            args.add("--report=" + report);
            args.add("--stream=" + stream);
            try (Tail tail = new Tail(stream, out)) {
                RankLauncher.run(job.ranks, args, Map.of(ScratchDir.ENV, dir.toString()), UCX_DEADLINE, out, err);
            }
            List<GenerateReport> reports = new ArrayList<>();
            for (String line : Files.readAllLines(report, StandardCharsets.UTF_8)) {
                if (!line.isBlank()) {
                    reports.add(GenerateReport.fromJson(line.getBytes(StandardCharsets.UTF_8)));
                }
            }
            return reports;
        } catch (IOException e) {
            throw new UncheckedIOException("generate: " + e.getMessage(), e);
        } finally {
            ScratchDir.deleteTree(dir);
        }
    }

    /** {@code worker generate ...}: one rank over UCX; rank 0 prints (or appends to {@code --stream}) and reports. */
    static int runWorker(List<String> args, PrintStream out, PrintStream err) {
        Options o = Options.parse("worker generate", workerOptions(), args);
        TransportOptions topts = WorkerCommand.transportOptions(o, System.getenv());
        try (GenerateJob job = GenerateJob.load(o, topts.worldSize())) {
            topts = WorkerCommand.forJob(topts, job.timeout);
            if (job.ranks != topts.worldSize()) {
                throw new UsageException("--ranks", job.ranks + " differs from the job's world size " + topts.worldSize());
            }
            RankBanner.print(topts);
            try (UcxTransport transport = Bootstrap.connect(topts.withJobParams(job.jobParams()))) {
                try {
                    return runRank(job, o, transport, out, err);
                } catch (RuntimeException | Error e) {
                    transport.abort(e);
                    throw e;
                }
            }
        }
    }

    private static int runRank(GenerateJob job, Options o, UcxTransport transport, PrintStream out, PrintStream err)
            throws RuntimeException {
        boolean first = transport.rank() == 0;
        PrintStream textOut = out;
        PrintStream streamFile = null;
        try {
            if (first && o.has("stream")) {
                streamFile = new PrintStream(Files.newOutputStream(Path.of(o.required("stream")),
                        StandardOpenOption.WRITE, StandardOpenOption.APPEND), false, StandardCharsets.UTF_8);
                textOut = streamFile;
            }
            TokenPrinter printer = new TokenPrinter(job, textOut);
            DemoRank.crashIfAsked(transport.rank());
            Generation.RankResult r = Generation.runRank(job.model, transport, job.prompt,
                    job.generationOptions(DemoJob.ranksPerNode()), first ? printer::accept : null);
            if (first) {
                printer.finish();
            }
            List<GenerateReport> all = new ArrayList<>();
            for (byte[] p : transport.allGather(GenerateReport.of(r).toBytes(), job.timeout)) {
                all.add(GenerateReport.fromJson(p));
            }
            all.sort(Comparator.comparingInt(p -> p.result().rank()));
            if (first) {
                if (o.has("report")) {
                    WorkerCommand.writeReport(o, all.stream().map(GenerateReport::toJson).toList());
                } else {
                    GenerateSummary.print(out, err, job, all, "ucx", o.flag("json"));
                }
            }
            transport.barrier(job.timeout);
            return ExitCode.OK;
        } catch (IOException e) {
            throw new UsageException("--stream", e.getMessage());
        } finally {
            if (streamFile != null) {
                streamFile.close();
            }
        }
    }

    /**
     * Prints the prompt's text, then each generated token's text as it comes (or, without a
     * tokenizer, the generated ids); stop tokens print nothing. The decoder is first fed the prompt,
     * so the continuation's spaces come out as they would in the whole text.
     */
    static final class TokenPrinter {
        private final PrintStream out;
        private final Continuation text;

        TokenPrinter(GenerateJob job, PrintStream out) {
            this.out = out;
            this.text = new Continuation(job);
            if (job.codec != null) {
                out.print(job.codec.decode(job.prompt));
                out.flush();
            }
        }

        void accept(int token) {
            out.print(text.next(token));
            out.flush();
        }

        void finish() {
            out.print(text.finish());
            out.println();
            out.flush();
        }
    }

    /** Copies what another process appends to {@code file} to {@code out} until closed (then the rest). */
    private static final class Tail implements AutoCloseable {
        private final Thread thread;
        private volatile boolean done;

        Tail(Path file, PrintStream out) throws IOException {
            InputStream in = Files.newInputStream(file);
            thread = Thread.ofPlatform().daemon().name("ringattn-generate-tail").start(() -> {
                byte[] buf = new byte[8192];
                try (in) {
                    while (true) {
                        boolean last = done;
                        int n;
                        while ((n = in.read(buf)) > 0) {
                            out.write(buf, 0, n);
                            out.flush();
                        }
                        if (last) {
                            return;
                        }
                        Thread.sleep(20);
                    }
                } catch (IOException | InterruptedException e) {
                    // the job's own outcome decides; a lost tail only loses echoed text
                }
            });
        }

        @Override
        public void close() {
            done = true;
            try {
                thread.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
