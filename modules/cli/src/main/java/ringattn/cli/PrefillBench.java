package ringattn.cli;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import ringattn.io.HeapHighWater;
import ringattn.io.JsonLine;
import ringattn.io.PeakMemory;
import ringattn.model.LlamaConfig;
import ringattn.model.LlamaModel;
import ringattn.model.Prefill;
import ringattn.model.TinyLlama;

/**
 * {@code prefill --bench}: the ranks as threads of this JVM, warmed up on a short sequence, then for
 * every (S, P) the best of {@code --bench-reps} runs: wall seconds, tokens/s, the share of time in
 * ring attention and the process CPU seconds (on a shared machine wall time measures contention, CPU
 * seconds measure work). Stateless.
 */
final class PrefillBench {
    private PrefillBench() {
    }

    static List<Option> options() {
        return List.of(
                Option.flag("bench", "benchmark instead: local ranks, every (S, P) below, best of --bench-reps "
                        + "(--model or --tiny, default --tiny; no tokens needed)"),
                Option.value("bench-seqs", "S,...", "sequence lengths of --bench (default 1024,2048,4096)"),
                Option.value("bench-ranks", "P,...", "ring sizes of --bench (default 1,2,3,4)"),
                Option.value("bench-reps", "N", "runs per point of --bench (default 2)"));
    }

    static int run(PrefillJob job, Options o, boolean json, PrintStream out) {
        List<Integer> seqs = o.intList("bench-seqs", List.of(1024, 2048, 4096), 1, Integer.MAX_VALUE);
        List<Integer> ranks = o.intList("bench-ranks", List.of(1, 2, 3, 4), 1, 4096);
        int reps = o.intValue("bench-reps", 2, 1, Integer.MAX_VALUE);
        LlamaModel model = job.model;
        LlamaConfig c = model.config();
        out.printf(Locale.ROOT, "bench: model %s (%d layers, hidden %d, vocab %d), local ranks as threads, %d cores, "
                        + "threads/rank %s, best of %d%n", job.modelName(), c.layers(), c.hiddenSize(), c.vocabSize(),
                Runtime.getRuntime().availableProcessors(), o.has("threads") ? o.required("threads") : "cores/P", reps);
        // warm-up: JIT the kernels on a short sequence, on one rank and on a ring
        for (int p : new int[] {1, 2}) {
            Prefill.runLocal(model, TinyLlama.randomTokens(1024, c.vocabSize(), 7), p, job.benchOptions(p), null);
        }
        List<JsonLine> rows = new ArrayList<>();
        out.printf(Locale.ROOT, "%8s %3s %10s %12s %8s %12s%n", "S", "P", "seconds", "tokens/s", "attn %", "cpu-seconds");
        for (int s : seqs) {
            int[] tokens = TinyLlama.randomTokens(s, c.vocabSize(), job.seed);
            for (int p : ranks) {
                double sec = Double.POSITIVE_INFINITY;
                double attn = 0;
                double cpu = Double.POSITIVE_INFINITY;
                for (int rep = 0; rep < reps; rep++) {
                    double cpu0 = Prefill.processCpuSeconds();
                    List<Prefill.RankResult> rs = Prefill.runLocal(model, tokens, p, job.benchOptions(p), null);
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
        if (json) {
            // the ranks are threads of this process: its peaks are every rank's
            out.println(new JsonLine().put("bench", rows).put("peak_rss_bytes_per_rank", PeakMemory.highWaterBytes())
                    .put("heap_peak_bytes_per_rank", HeapHighWater.bytes()));
        }
        out.flush();
        return ExitCode.OK;
    }
}
