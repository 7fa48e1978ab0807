package ringattn.cli;

import java.io.PrintStream;
import java.util.List;
import java.util.Locale;
import ringattn.io.JsonLine;
import ringattn.io.PeakMemory;

/**
 * The demo's result over all ranks: seconds is the slowest rank's forward wall time (start-up,
 * input generation and checking excluded); GFLOP/s uses {@link DemoJob#nominalFlops()}; hidden
 * communication is the mean of the ranks' fractions; errors are maxima. Immutable.
 */
public record DemoSummary(DemoJob job, String transport, List<RankReport> ranks) {

    /** Forward wall time of the slowest rank, seconds. */
    public double seconds() {
        return ranks.stream().mapToLong(RankReport::forwardNanos).max().orElse(0) / 1e9;
    }

    /** Nominal GFLOP/s (see {@link DemoJob#nominalFlops()}). */
    public double gflops() {
        return Flops.gflops(job.nominalFlops(), seconds());
    }

    /** Mean hidden-communication fraction over ranks (1.0 for one rank: nothing moved). */
    public double hiddenFraction() {
        return ranks.stream().mapToDouble(RankReport::hiddenFraction).average().orElse(1);
    }

    /** Largest |ΔO| over all checked rows. */
    public double maxAbsErr() {
        double m = 0;
        for (RankReport r : ranks) {
            m = DemoRank.maxErr(m, r.maxAbsErrOut());
        }
        return m;
    }

    /** Largest |ΔLSE| over all checked rows. */
    public double maxAbsErrLse() {
        double m = 0;
        for (RankReport r : ranks) {
            m = DemoRank.maxErr(m, r.maxAbsErrLse());
        }
        return m;
    }

    /** Rows checked against the reference. */
    public int checkedRows() {
        return ranks.stream().mapToInt(RankReport::checkedRows).sum();
    }

    /** Largest peak RSS of any rank process, bytes. */
    public long peakRss() {
        return ranks.stream().mapToLong(RankReport::peakRssBytes).max().orElse(-1);
    }

    /** Largest heap high-water mark of any rank's JVM, bytes. */
    public long heapPeak() {
        return ranks.stream().mapToLong(RankReport::heapPeakBytes).max().orElse(-1);
    }

    /** The devices the ranks computed on ({@code cpu}, {@code cuda}; several joined by '+'). */
    public String devices() {
        return String.join("+", ranks.stream().map(r -> String.valueOf(r.device())).distinct().toList());
    }

    /** Distinct process ids, by rank. */
    public List<Long> pids() {
        return ranks.stream().map(RankReport::pid).distinct().toList();
    }

    /** The short table: a header line and a value line. */
    public void printTable(PrintStream out) {
        String head = "%-6s %-8s %-6s %-9s %-9s %-7s %-10s %-9s %-9s %-12s %-12s %-14s";
        out.println(String.format(Locale.ROOT, head, "ranks", "seq", "heads", "kv_heads", "head_dim", "causal",
                "transport", "seconds", "GFLOP/s", "hidden_comm", "max_abs_err", "peak_rss/rank"));
        out.println(String.format(Locale.ROOT, head, job.ranks(), job.seqLen(), job.heads(), job.kvHeads(),
                job.headDim(), job.causal() ? "yes" : "no", transport, String.format(Locale.ROOT, "%.3f", seconds()),
                String.format(Locale.ROOT, "%.1f", gflops()), String.format(Locale.ROOT, "%.1f%%", 100 * hiddenFraction()),
                String.format(Locale.ROOT, "%.2e", maxAbsErr()), PeakMemory.format(peakRss())));
        out.println(String.format(Locale.ROOT,
                "(GFLOP/s: 4*S^2*D*H%s per forward / seconds; seconds: slowest rank's forward wall time; "
                        + "checked %d rows x %d heads against the fp64 reference; max |dLSE| %.2e)",
                job.causal() ? "/2 (causal)" : "", checkedRows(), job.heads(), maxAbsErrLse()));
    }

    /** The JSON summary object. */
    public JsonLine toJson() {
        return new JsonLine().put("ranks", job.ranks()).put("seq", job.seqLen()).put("heads", job.heads())
                .put("kv_heads", job.kvHeads()).put("head_dim", job.headDim()).put("causal", job.causal())
                .put("window", job.window()).put("dtype", job.dtype().name().toLowerCase(Locale.ROOT))
                .put("layout", job.ringOptions().layout().name().toLowerCase(Locale.ROOT))
                .put("transport", transport).put("device", devices()).put("threads_per_rank", job.threads())
                .put("repeats", job.repeats()).put("pids", pids()).put("hosts", ranks.stream().map(RankReport::host).distinct().toList())
                .put("seconds", seconds()).put("gflops", gflops())
                .put("flops", job.nominalFlops()).put("flops_convention", Flops.forwardConvention(job.causal()))
                .put("max_abs_err", maxAbsErr()).put("max_abs_err_lse", maxAbsErrLse())
                .put("checked_rows", checkedRows()).put("hidden_comm_fraction", hiddenFraction())
                .put("peak_rss_bytes_per_rank", peakRss())
                .put("peak_rss_bytes_by_rank", ranks.stream().map(RankReport::peakRssBytes).toList())
                .put("heap_peak_bytes_per_rank", heapPeak())
                .put("heap_peak_bytes_by_rank", ranks.stream().map(RankReport::heapPeakBytes).toList())
                .put("bytes_moved_per_rank", ranks.stream().map(RankReport::bytesMoved).toList());
    }
}
