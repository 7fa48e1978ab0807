package ringattn.cli;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import ringattn.io.Json;
import ringattn.io.JsonLine;

/**
 * What one rank measured in a demo or run: its process, timings and accuracy. Travels between
 * processes as one JSON object (see {@link #toJson()} / {@link #fromJson(byte[])}). Immutable.
 *
 * @param rank            rank
 * @param pid             process id
 * @param host            host name
 * @param forwardNanos    wall time of the forward ring pass, nanoseconds
 * @param backwardNanos   wall time of the backward ring pass, nanoseconds (0 without)
 * @param computeNanos    kernel time summed over the forward's steps, nanoseconds
 * @param bytesMoved      bytes this rank sent in the forward pass
 * @param hiddenFraction  forward communication hidden behind compute, [0, 1]
 * @param peakRssBytes    the process's resident high-water mark after the pass, bytes (−1 unknown)
 * @param heapPeakBytes   the JVM's heap high-water mark after the pass ({@link ringattn.io.HeapHighWater}), bytes
 * @param maxAbsErrOut    largest |O − O_ref| over the rows this rank checked (0 when none)
 * @param maxAbsErrLse    largest |LSE − LSE_ref| over those rows
 * @param checkedRows     rows checked
 * @param device          the device the rank's kernel ran on ({@code cpu}, {@code cuda})
 */
public record RankReport(int rank, long pid, String host, long forwardNanos, long backwardNanos, long computeNanos,
                         long bytesMoved, double hiddenFraction, long peakRssBytes, long heapPeakBytes, double maxAbsErrOut,
                         double maxAbsErrLse, int checkedRows, String device) {

    /** One JSON object. */
    public String toJson() {
        return new JsonLine().put("rank", rank).put("pid", pid).put("host", host).put("forward_nanos", forwardNanos)
                .put("backward_nanos", backwardNanos).put("compute_nanos", computeNanos).put("bytes_moved", bytesMoved)
                .put("hidden_fraction", hiddenFraction).put("peak_rss_bytes", peakRssBytes).put("heap_peak_bytes", heapPeakBytes)
                .put("max_abs_err_out", maxAbsErrOut).put("max_abs_err_lse", maxAbsErrLse)
                .put("checked_rows", checkedRows).put("device", device).toString();
    }

    /** Bytes of {@link #toJson()} (UTF-8). */
    public byte[] toBytes() {
        return toJson().getBytes(StandardCharsets.UTF_8);
    }

    /** Parses {@link #toBytes()}. */
    public static RankReport fromJson(byte[] bytes) {
        Map<?, ?> m = (Map<?, ?>) Json.parse(new String(bytes, StandardCharsets.UTF_8));
        return new RankReport(num(m, "rank").intValue(), num(m, "pid").longValue(), (String) m.get("host"),
                num(m, "forward_nanos").longValue(), num(m, "backward_nanos").longValue(),
                num(m, "compute_nanos").longValue(), num(m, "bytes_moved").longValue(),
                dbl(m, "hidden_fraction"), num(m, "peak_rss_bytes").longValue(), num(m, "heap_peak_bytes").longValue(),
                dbl(m, "max_abs_err_out"),
                dbl(m, "max_abs_err_lse"), num(m, "checked_rows").intValue(), (String) m.get("device"));
    }

    private static Number num(Map<?, ?> m, String key) {
        return (Number) m.get(key);
    }

    private static double dbl(Map<?, ?> m, String key) {
        Object o = m.get(key);
        return o instanceof Number n ? n.doubleValue() : Double.NaN;
    }
}
