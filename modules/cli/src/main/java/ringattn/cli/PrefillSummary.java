package ringattn.cli;

import java.io.PrintStream;
import java.util.List;
import java.util.Locale;
import ringattn.io.JsonLine;
import ringattn.model.LlamaConfig;
import ringattn.model.Prefill;

/**
 * What {@code prefill} prints: a banner before the ranks start, then a line per rank, the tokens/s
 * of the slowest rank and, with {@code --json}, one JSON object as the last stdout line. Stateless.
 */
final class PrefillSummary {
    private PrefillSummary() {
    }

    /** The line before the ranks start. */
    static void banner(PrintStream out, PrefillJob job, String transport, int threadsPerRank) {
        LlamaConfig c = job.model.config();
        out.printf(Locale.ROOT, "prefill: model %s (%d layers, hidden %d, heads %d/%d kv, vocab %d), S=%d, ranks %d (%s, %s), "
                        + "threads/rank %d%n", job.modelName(), c.layers(), c.hiddenSize(), c.heads(), c.kvHeads(),
                c.vocabSize(), job.tokens.length, job.ranks, transport, job.layout.name().toLowerCase(Locale.ROOT),
                threadsPerRank);
    }

    /**
     * Every rank's line, tokens/s over the slowest rank's seconds, and the JSON object: {@code ranks,
     * seq, tokens_per_s, seconds, transport, pids}, and the memory fields of every command's summary
     * ({@code peak_rss_bytes_per_rank} and {@code heap_peak_bytes_per_rank} the largest over the
     * ranks, {@code peak_rss_bytes_by_rank} and {@code heap_peak_bytes_by_rank} by rank).
     */
    static void print(PrintStream out, PrefillJob job, List<PrefillReport> reports, String transport, boolean json) {
        double seconds = 0;
        for (PrefillReport p : reports) {
            Prefill.RankResult r = p.result();
            seconds = Math.max(seconds, r.seconds());
            out.printf(Locale.ROOT, "rank %d: %d tokens, %.3f s (ring attention %.3f s), peak RSS %.1f MiB, heap peak %.1f MiB, "
                    + "kernels %s%n", r.rank(), r.tokens(), r.seconds(), r.attentionSeconds(), r.peakRssBytes() / 1048576.0,
                    r.heapPeakBytes() / 1048576.0, r.kernel());
        }
        int seqLen = job.tokens.length;
        double tps = seconds > 0 ? seqLen / seconds : 0;
        out.printf(Locale.ROOT, "prefill: %d tokens on %d ranks in %.3f s = %.1f tokens/s%n", seqLen, reports.size(), seconds, tps);
        if (transport.equals("local")) {
            out.println("note: local ranks share one process, so each rank's peak RSS is the whole process's");
        }
        if (job.out != null) {
            out.println("wrote logits [" + seqLen + ", vocab] float32 to " + job.out);
        }
        if (json) {
            List<Long> rss = reports.stream().map(p -> p.result().peakRssBytes()).toList();
            List<Long> heap = reports.stream().map(p -> p.result().heapPeakBytes()).toList();
            out.println(new JsonLine().put("ranks", reports.size()).put("seq", seqLen).put("tokens_per_s", tps)
                    .put("seconds", seconds).put("transport", transport)
                    .put("pids", reports.stream().map(PrefillReport::pid).toList())
                    .put("peak_rss_bytes_per_rank", rss.stream().mapToLong(Long::longValue).max().orElse(-1))
                    .put("peak_rss_bytes_by_rank", rss)
                    .put("heap_peak_bytes_per_rank", heap.stream().mapToLong(Long::longValue).max().orElse(-1))
                    .put("heap_peak_bytes_by_rank", heap));
        }
        out.flush();
    }
}
