package ringattn.cli;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import ringattn.io.Json;
import ringattn.io.JsonLine;
import ringattn.model.Generation;

/**
 * What one rank of a {@code generate} measured, and its process id. Travels between processes as one
 * JSON object, as {@link PrefillReport} does for prefill. Immutable.
 *
 * @param result the model's per-rank result
 * @param pid    the rank's process id
 */
record GenerateReport(Generation.RankResult result, long pid) {
    static GenerateReport of(Generation.RankResult result) {
        return new GenerateReport(result, ProcessHandle.current().pid());
    }

    String toJson() {
        Generation.RankResult r = result;
        return new JsonLine().put("rank", r.rank()).put("pid", pid)
                .put("tokens", java.util.Arrays.stream(r.tokens()).boxed().toList())
                .put("prefill_seconds", r.prefillSeconds()).put("first_token_seconds", r.firstTokenSeconds())
                .put("decode_seconds", r.decodeSeconds()).put("attention_seconds", r.attentionSeconds())
                .put("reduction_seconds", r.reductionSeconds())
                .put("cached_tokens", r.cachedTokens()).put("peak_rss_bytes", r.peakRssBytes())
                .put("heap_peak_bytes", r.heapPeakBytes()).put("kernel", r.kernel()).toString();
    }

    byte[] toBytes() {
        return toJson().getBytes(StandardCharsets.UTF_8);
    }

    static GenerateReport fromJson(byte[] bytes) {
        Map<?, ?> m = (Map<?, ?>) Json.parse(new String(bytes, StandardCharsets.UTF_8));
        List<?> ids = (List<?>) m.get("tokens");
        int[] tokens = new int[ids.size()];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = ((Number) ids.get(i)).intValue();
        }
        return new GenerateReport(new Generation.RankResult(num(m, "rank").intValue(), tokens,
                num(m, "prefill_seconds").doubleValue(), num(m, "first_token_seconds").doubleValue(),
                num(m, "decode_seconds").doubleValue(), num(m, "attention_seconds").doubleValue(),
                num(m, "reduction_seconds").doubleValue(),
                num(m, "cached_tokens").intValue(), num(m, "peak_rss_bytes").longValue(),
                num(m, "heap_peak_bytes").longValue(), (String) m.get("kernel")), num(m, "pid").longValue());
    }

    private static Number num(Map<?, ?> m, String key) {
        return (Number) m.get(key);
    }
}
