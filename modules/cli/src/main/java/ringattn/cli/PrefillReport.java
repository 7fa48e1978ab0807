package ringattn.cli;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import ringattn.io.Json;
import ringattn.io.JsonLine;
import ringattn.model.Prefill;

/**
 * What one rank of a {@code prefill} measured, and its process id. Travels between processes as one
 * JSON object ({@link #toJson()} / {@link #fromJson(byte[])}), as {@link RankReport} does for demo
 * and run. Immutable.
 *
 * @param result the model's per-rank result (tokens, seconds, attention seconds, peak RSS and heap, kernels)
 * @param pid    the rank's process id
 */
record PrefillReport(Prefill.RankResult result, long pid) {
    /** This process's report of {@code result}. */
    static PrefillReport of(Prefill.RankResult result) {
        return new PrefillReport(result, ProcessHandle.current().pid());
    }

    /** One JSON object. */
    String toJson() {
        Prefill.RankResult r = result;
        return new JsonLine().put("rank", r.rank()).put("pid", pid).put("tokens", r.tokens()).put("seconds", r.seconds())
                .put("attention_seconds", r.attentionSeconds()).put("peak_rss_bytes", r.peakRssBytes())
                .put("heap_peak_bytes", r.heapPeakBytes()).put("kernel", r.kernel()).toString();
    }

    /** Bytes of {@link #toJson()} (UTF-8). */
    byte[] toBytes() {
        return toJson().getBytes(StandardCharsets.UTF_8);
    }

    /** Parses {@link #toBytes()}. */
    static PrefillReport fromJson(byte[] bytes) {
        Map<?, ?> m = (Map<?, ?>) Json.parse(new String(bytes, StandardCharsets.UTF_8));
        return new PrefillReport(new Prefill.RankResult(num(m, "rank").intValue(), num(m, "tokens").intValue(),
                num(m, "seconds").doubleValue(), num(m, "attention_seconds").doubleValue(),
                num(m, "peak_rss_bytes").longValue(), num(m, "heap_peak_bytes").longValue(), (String) m.get("kernel")),
                num(m, "pid").longValue());
    }

    private static Number num(Map<?, ?> m, String key) {
        return (Number) m.get(key);
    }
}
