package ringattn.cli.bench;

import java.util.Locale;

/**
 * One measured configuration of a sweep. Immutable.
 *
 * @param transport      {@code local} or {@code ucx}
 * @param ranks          ring size P
 * @param seqLen         sequence length S, tokens
 * @param heads          query heads
 * @param kvHeads        key/value heads
 * @param headDim        head dimension
 * @param causal         causal mask
 * @param threads        compute threads per rank
 * @param seconds        slowest rank's forward wall time, seconds
 * @param gflops         nominal GFLOP/s (4·S²·D·H, halved when causal)
 * @param hiddenFraction mean fraction of communication hidden behind compute
 * @param maxAbsErr      largest |O − O_ref| over the checked rows
 * @param peakRssBytes   largest per-rank peak RSS, bytes
 * @param heapPeakBytes  largest per-rank heap high-water mark, bytes
 */
public record BenchPoint(String transport, int ranks, int seqLen, int heads, int kvHeads, int headDim, boolean causal,
                         int threads, double seconds, double gflops, double hiddenFraction, double maxAbsErr,
                         long peakRssBytes, long heapPeakBytes) {
    /** The CSV header line. */
    public static final String CSV_HEADER =
            "transport,ranks,seq,heads,kv_heads,head_dim,causal,threads_per_rank,seconds,gflops,hidden_comm_fraction,"
                    + "max_abs_err,peak_rss_bytes_per_rank,heap_peak_bytes_per_rank";

    /** One CSV line (no newline). */
    public String toCsv() {
        return String.format(Locale.ROOT, "%s,%d,%d,%d,%d,%d,%b,%d,%.6f,%.3f,%.4f,%.3e,%d,%d", transport, ranks, seqLen,
                heads, kvHeads, headDim, causal, threads, seconds, gflops, hiddenFraction, maxAbsErr, peakRssBytes,
                heapPeakBytes);
    }
}
