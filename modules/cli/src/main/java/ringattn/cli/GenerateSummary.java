package ringattn.cli;

import java.io.PrintStream;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import ringattn.io.JsonLine;
import ringattn.model.Generation;
import ringattn.model.LlamaConfig;

/**
 * What {@code generate} reports besides the text: a banner and the figures on stderr (time to first
 * token, prefill and decode tokens/s, the reduction's cost, each rank's cache and peak memory) and,
 * with {@code --json}, one JSON object as the last stdout line. Stateless.
 */
final class GenerateSummary {
    private GenerateSummary() {
    }

    static void banner(PrintStream err, GenerateJob job, String transport, int threadsPerRank) {
        LlamaConfig c = job.model.config();
        err.printf(Locale.ROOT, "generate: model %s (%d layers, hidden %d, heads %d/%d kv, vocab %d), prompt %d tokens, "
                        + "max new %d, ranks %d (%s), threads/rank %d, %s%n", job.modelName(), c.layers(), c.hiddenSize(),
                c.heads(), c.kvHeads(), c.vocabSize(), job.prompt.length, job.maxNew, job.ranks, transport, threadsPerRank,
                job.sampling.temperature() == 0 ? "greedy" : String.format(Locale.ROOT, "temperature %s, top-k %d, top-p %s, seed %d",
                        job.sampling.temperature(), job.sampling.topK(), job.sampling.topP(), job.sampling.seed()));
        err.flush();
    }

    static void print(PrintStream out, PrintStream err, GenerateJob job, List<GenerateReport> reports, String transport,
                      boolean json) {
        Generation.RankResult first = reports.get(0).result();
        for (GenerateReport p : reports) {
            Generation.RankResult r = p.result();
            err.printf(Locale.ROOT, "rank %d: %d tokens cached, peak RSS %.1f MiB, heap peak %.1f MiB, kernels %s%n", r.rank(),
                    r.cachedTokens(), r.peakRssBytes() / 1048576.0, r.heapPeakBytes() / 1048576.0, r.kernel());
        }
        int[] tokens = first.tokens();
        int steps = Math.max(0, tokens.length - 1);
        double prefillTps = first.prefillSeconds() > 0 ? job.prompt.length / first.prefillSeconds() : 0;
        double decodeTps = first.decodeSeconds() > 0 ? steps / first.decodeSeconds() : 0;
        int layers = job.model.config().layers();
        double reductionUs = steps > 0 && reports.size() > 1 ? first.reductionSeconds() * 1e6 / ((double) steps * layers) : 0;
        err.printf(Locale.ROOT, "generate: prompt %d tokens, prefill %.3f s = %.1f tokens/s, time to first token %.3f s; "
                        + "%d tokens, decode %.1f tokens/s over %d steps (%.3f s)%s%n", job.prompt.length,
                first.prefillSeconds(), prefillTps, first.firstTokenSeconds(), tokens.length, decodeTps, steps,
                first.decodeSeconds(), reports.size() > 1 ? String.format(Locale.ROOT,
                        ", reduction %.1f µs per layer per token", reductionUs) : "");
        if (transport.equals("local")) {
            err.println("note: local ranks share one process, so each rank's peak RSS is the whole process's");
        }
        err.flush();
        if (json) {
            List<Long> rss = reports.stream().map(p -> p.result().peakRssBytes()).toList();
            List<Long> heap = reports.stream().map(p -> p.result().heapPeakBytes()).toList();
            String text = job.codec == null ? null : Continuation.of(job, tokens);
            out.println(new JsonLine().put("ranks", reports.size()).put("transport", transport)
                    .put("prompt_tokens", Arrays.stream(job.prompt).boxed().toList())
                    .put("tokens", Arrays.stream(tokens).boxed().toList()).put("text", text)
                    .put("time_to_first_token_seconds", first.firstTokenSeconds())
                    .put("prefill_seconds", first.prefillSeconds()).put("prefill_tokens_per_s", prefillTps)
                    .put("decode_seconds", first.decodeSeconds()).put("decode_tokens_per_s", decodeTps)
                    .put("reduction_us_per_layer_token", reductionUs)
                    .put("attention_us_per_layer_token_by_rank", reports.stream().map(p -> steps == 0 ? 0.0
                            : p.result().attentionSeconds() * 1e6 / ((double) steps * layers)).toList())
                    .put("cached_tokens_by_rank", reports.stream().map(p -> p.result().cachedTokens()).toList())
                    .put("pids", reports.stream().map(GenerateReport::pid).toList())
                    .put("peak_rss_bytes_per_rank", rss.stream().mapToLong(Long::longValue).max().orElse(-1))
                    .put("peak_rss_bytes_by_rank", rss)
                    .put("heap_peak_bytes_per_rank", heap.stream().mapToLong(Long::longValue).max().orElse(-1))
                    .put("heap_peak_bytes_by_rank", heap));
        }
        out.flush();
    }
}
