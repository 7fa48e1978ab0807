package ringattn.bench;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import ringattn.io.JsonLine;
import ringattn.io.PeakMemory;
import ringattn.model.Generation;

/**
 * One measured point of {@link DecodeBench}: a prompt of {@code context} tokens prefilled and then
 * decoded on {@code ranks} ranks. Times come from rank 0 (every rank steps in lockstep); attention from
 * the slowest rank; the reduction from the rank that spent least in it (the exchange and combine themselves; the most, in
 * {@link #reductionMicrosMax}, adds waiting for the slowest rank's attention); peak RSS is the
 * largest of any rank's process. Immutable.
 *
 * @param context   prompt tokens (BOS and context − 1 random ids)
 * @param ranks     rank count
 * @param threads   worker threads per rank
 * @param transport {@code local} (ranks as threads of one JVM) or {@code ucx} (one process per rank)
 * @param layers    the model's layers
 * @param byRank    every rank's figures, by rank
 * @param kernel    matmul and attention kernel names
 */
record DecodePoint(int context, int ranks, int threads, String transport, int layers, List<RankFigures> byRank,
                   String kernel) {

    /**
     * One rank's figures, seconds after the start barrier.
     *
     * @param prefillSeconds    the prompt's ring prefill
     * @param firstTokenSeconds start to the first generated token
     * @param decodeSeconds     every decode step after the first token
     * @param attentionSeconds  of which in this rank's attention over its cache shard
     * @param reductionSeconds  of which in the cross-rank reduction (all-gather of attention states and combine)
     * @param peakRssBytes      the rank's process peak resident set (the whole JVM's high-water mark
     *                          for local ranks), −1 when unknown
     * @param tokens            the generated ids
     */
    record RankFigures(double prefillSeconds, double firstTokenSeconds, double decodeSeconds, double attentionSeconds,
                       double reductionSeconds, long peakRssBytes, int[] tokens) {
        static RankFigures of(Generation.RankResult r) {
            return new RankFigures(r.prefillSeconds(), r.firstTokenSeconds(), r.decodeSeconds(), r.attentionSeconds(),
                    r.reductionSeconds(), r.peakRssBytes(), r.tokens());
        }

        /** As one line of words, for a rank process to hand to the launcher: see {@link #parse}. */
        String toLine() {
            StringBuilder b = new StringBuilder();
            b.append(prefillSeconds).append(' ').append(firstTokenSeconds).append(' ').append(decodeSeconds).append(' ')
                    .append(attentionSeconds).append(' ').append(reductionSeconds).append(' ').append(peakRssBytes).append(' ');
            for (int i = 0; i < tokens.length; i++) {
                b.append(i == 0 ? "" : ",").append(tokens[i]);
            }
            return b.toString();
        }

        /** The figures of a {@link #toLine} line; throws naming the line when it is malformed. */
        static RankFigures parse(String line) {
            String[] f = line.trim().split(" ");
            try {
                if (f.length < 6 || f.length > 7) {
                    throw new NumberFormatException("expected 6 or 7 fields, got " + f.length);
                }
                int[] tokens = f.length == 7 ? Arrays.stream(f[6].split(",")).mapToInt(Integer::parseInt).toArray()
                        : new int[0];
                return new RankFigures(Double.parseDouble(f[0]), Double.parseDouble(f[1]), Double.parseDouble(f[2]),
                        Double.parseDouble(f[3]), Double.parseDouble(f[4]), Long.parseLong(f[5]), tokens);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("rank figures: cannot parse '" + line + "': " + e.getMessage(), e);
            }
        }
    }

    DecodePoint {
        if (byRank.size() != ranks) {
            throw new IllegalArgumentException("byRank: expected " + ranks + " ranks' figures, got " + byRank.size());
        }
        byRank = List.copyOf(byRank);
    }

    private RankFigures first() {
        return byRank.get(0);
    }

    /** Decode steps timed: the tokens generated after the first. */
    int steps() {
        return Math.max(0, first().tokens().length - 1);
    }

    double decodeTokensPerSecond() {
        return steps() / first().decodeSeconds();
    }

    /** Time to first token over the prefill alone. */
    double firstTokenOverPrefill() {
        return first().firstTokenSeconds() / first().prefillSeconds();
    }

    private double reductionSecondsMin() {
        return byRank.stream().mapToDouble(RankFigures::reductionSeconds).min().orElse(0);
    }

    /** The reduction's share of the decode time. */
    double reductionShare() {
        return reductionSecondsMin() / first().decodeSeconds();
    }

    /** Reduction microseconds per layer per generated token (the rank that spent least in it). */
    double reductionMicros() {
        return 1e6 * reductionSecondsMin() / ((double) steps() * layers);
    }

    /** The same for the rank that spent most in it (includes waiting for the slowest rank). */
    double reductionMicrosMax() {
        double most = byRank.stream().mapToDouble(RankFigures::reductionSeconds).max().orElse(0);
        return 1e6 * most / ((double) steps() * layers);
    }

    /**
     * Attention microseconds per layer per generated token: each rank's over its own shard, the
     * slowest rank's (the one every rank waits for).
     */
    double attentionMicros() {
        double most = byRank.stream().mapToDouble(RankFigures::attentionSeconds).max().orElse(0);
        return 1e6 * most / ((double) steps() * layers);
    }

    long peakRssBytes() {
        return byRank.stream().mapToLong(RankFigures::peakRssBytes).max().orElse(-1);
    }

    JsonLine toJson() {
        RankFigures r = first();
        return new JsonLine().put("context", context).put("ranks", ranks).put("threads", threads)
                .put("transport", transport).put("new_tokens", r.tokens().length).put("steps", steps())
                .put("layers", layers).put("prefill_s", r.prefillSeconds()).put("first_token_s", r.firstTokenSeconds())
                .put("ttft_over_prefill", firstTokenOverPrefill()).put("decode_s", r.decodeSeconds())
                .put("decode_tok_s", decodeTokensPerSecond()).put("attention_us_per_layer_token", attentionMicros())
                .put("reduction_s", reductionSecondsMin())
                .put("reduction_share", reductionShare()).put("reduction_us_per_layer_token", reductionMicros())
                .put("reduction_us_per_layer_token_max", reductionMicrosMax()).put("peak_rss_bytes", peakRssBytes())
                .put("kernel", kernel).put("tokens", Arrays.stream(r.tokens()).boxed().toList());
    }

    static String tableHeader() {
        return "| C | P | threads | transport | prefill (s) | first token (s) | TTFT / prefill | decode tok/s "
                + "| attention µs/layer/token | reduction share | reduction µs/layer/token | peak RSS |\n"
                + "|---|---|---|---|---|---|---|---|---|---|---|---|";
    }

    String tableRow() {
        RankFigures r = first();
        return String.format(Locale.ROOT, "| %d | %d | %d | %s | %.3f | %.3f | %.2f | %.1f | %.1f | %.1f%% | %.1f | %s |",
                context, ranks, threads, transport, r.prefillSeconds(), r.firstTokenSeconds(), firstTokenOverPrefill(),
                decodeTokensPerSecond(), attentionMicros(), 100 * reductionShare(), reductionMicros(), PeakMemory.format(peakRssBytes()));
    }
}
