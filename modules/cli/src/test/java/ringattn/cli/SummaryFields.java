package ringattn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;

/** Assertions on the memory and throughput fields every JSON summary carries. */
final class SummaryFields {
    private SummaryFields() {
    }

    static double number(Map<?, ?> j, String key) {
        assertTrue(j.get(key) instanceof Number, key + " is a number in " + j);
        return ((Number) j.get(key)).doubleValue();
    }

    /**
     * {@code peak_rss_bytes_per_rank} and {@code heap_peak_bytes_per_rank} are there and plausible:
     * heap above 1 MiB (the job allocated), RSS at least the heap (touched heap is resident), and,
     * when the ranks ran in this JVM ({@code local}), the heap at most this JVM's maximum heap.
     */
    static void assertMemory(Map<?, ?> j, boolean local) {
        double rss = number(j, "peak_rss_bytes_per_rank");
        double heap = number(j, "heap_peak_bytes_per_rank");
        assertTrue(heap > 1 << 20, "heap_peak_bytes_per_rank " + heap + " in " + j);
        assertTrue(rss >= heap, "peak RSS " + rss + " below the heap peak " + heap + " in " + j);
        if (local) {
            assertTrue(heap <= Runtime.getRuntime().maxMemory(), "heap peak " + heap + " above -Xmx in " + j);
        }
    }

    /** {@code gflops == flops / seconds / 1e9} (relative 1e-9), all positive and finite, for a prefix. */
    static void assertThroughput(Map<?, ?> j, String flopsKey, String secondsKey, String gflopsKey) {
        double flops = number(j, flopsKey);
        double seconds = number(j, secondsKey);
        double gflops = number(j, gflopsKey);
        assertTrue(flops > 0 && Double.isFinite(flops), flopsKey + " in " + j);
        assertTrue(seconds > 0 && Double.isFinite(seconds), secondsKey + " in " + j);
        assertTrue(gflops > 0 && Double.isFinite(gflops), gflopsKey + " in " + j);
        assertEquals(flops / seconds / 1e9, gflops, 1e-9 * gflops, gflopsKey + " = " + flopsKey + " / " + secondsKey);
    }
}
