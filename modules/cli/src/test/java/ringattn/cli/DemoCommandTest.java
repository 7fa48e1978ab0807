package ringattn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import ringattn.io.Json;

/**
 * The demo end to end. Tolerance: fp32 storage, fp32 accumulation over at most a few hundred keys of
 * values in [−1, 1): errors are a few ulps (measured ~1e-7); 1e-4 catches any masking or merge bug
 * (those are of order 0.1).
 */
class DemoCommandTest {
    static Map<?, ?> json(CliRun r) {
        assertEquals(0, r.code(), r.toString());
        return (Map<?, ?>) Json.parse(r.lastLine());
    }

    static void assertDemoJson(Map<?, ?> j, int ranks, int seq, String transport) {
        assertEquals((long) ranks, j.get("ranks"));
        assertEquals((long) seq, j.get("seq"));
        assertEquals(transport, j.get("transport"));
        for (String key : List.of("heads", "kv_heads", "head_dim", "causal", "pids", "seconds", "gflops",
                "max_abs_err", "hidden_comm_fraction", "peak_rss_bytes_per_rank")) {
            assertTrue(j.containsKey(key), "missing " + key + " in " + j);
        }
        double err = ((Number) j.get("max_abs_err")).doubleValue();
        assertTrue(err < 1e-4, "max_abs_err " + err);
        assertTrue(((Number) j.get("seconds")).doubleValue() > 0);
        assertTrue(((Number) j.get("peak_rss_bytes_per_rank")).longValue() > 0);
        double hidden = ((Number) j.get("hidden_comm_fraction")).doubleValue();
        assertTrue(hidden >= 0 && hidden <= 1, "hidden " + hidden);
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void localDemoJsonChecksEveryRowOfASmallSequence() {
        CliRun r = CliRun.of("demo", "--transport", "local", "--ranks", "3", "--seq", "300", "--heads", "4",
                "--kv-heads", "2", "--head-dim", "32", "--threads", "1", "--json");
        Map<?, ?> j = json(r);
        assertDemoJson(j, 3, 300, "local");
        assertEquals(List.of(ProcessHandle.current().pid()), j.get("pids"));
        assertEquals(300L, j.get("checked_rows"));
        assertEquals(2L, j.get("kv_heads"));
        assertTrue(r.err().contains("device: "), "the device choice is logged: " + r.err());
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void localDemoTableWithWindowBf16AndSampledRows() {
        CliRun r = CliRun.of("demo", "--transport", "local", "--ranks", "2", "--seq", "2100", "--heads", "1",
                "--head-dim", "16", "--window", "100", "--dtype", "bf16", "--check-rows", "10", "--threads", "1");
        assertEquals(0, r.code(), r.toString());
        List<String> lines = r.out().lines().toList();
        assertTrue(lines.get(0).startsWith("ranks  seq"), r.out());
        assertTrue(lines.get(1).startsWith("2      2100"), r.out());
        assertTrue(r.out().contains("checked 10 rows"), r.out());
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void ucxDemoRunsRanksAsSeparateProcesses() {
        CliRun r = CliRun.of("demo", "--transport", "ucx", "--ranks", "3", "--seq", "384", "--heads", "2",
                "--head-dim", "32", "--threads", "1", "--json", "--timeout", "30");
        Map<?, ?> j = json(r);
        assertDemoJson(j, 3, 384, "ucx");
        List<?> pids = (List<?>) j.get("pids");
        assertEquals(3, pids.size(), "one process per rank: " + pids);
        assertTrue(!pids.contains(ProcessHandle.current().pid()), "ranks are other processes");
        for (int rank = 0; rank < 3; rank++) {
            assertTrue(r.err().contains("[rank " + rank + "] rank " + rank + "/3 pid "), r.err());
        }
    }
}
