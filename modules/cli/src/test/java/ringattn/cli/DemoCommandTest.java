package ringattn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import ringattn.engine.tensor.DType;
import ringattn.io.Json;

/**
 * The demo end to end, and its verdict on its own result ({@code --tolerance}). Tolerance: fp32
 * storage, fp32 accumulation over at most a few hundred keys of values in [−1, 1): errors are a few
 * ulps (measured ~1e-7); 1e-4 catches any masking or merge bug (those are of order 0.1).
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
        SummaryFields.assertMemory(j, transport.equals("local"));
        SummaryFields.assertThroughput(j, "flops", "seconds", "gflops");
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

    /**
     * BF16 storage rounds O once: inputs in [−1, 1) make |O| &lt; 1, so the rounding is at most half an
     * ulp below 1, 2^-9, plus the fp32 error (about 1e-7; 1e-5 allowed). Measured 4.2e-4 here.
     */
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
        List<String> head = List.of(lines.get(0).split("\\s+"));
        String[] values = lines.get(1).split("\\s+");
        double err = Double.parseDouble(values[head.indexOf("max_abs_err")]);
        assertTrue(err > 0 && err <= 0x1p-9 + 1e-5, "max_abs_err " + err + " in\n" + r.out());
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void aResultOutsideTheToleranceFailsAfterPrintingIt() {
        CliRun r = CliRun.of("demo", "--transport", "local", "--ranks", "2", "--seq", "96", "--heads", "2",
                "--head-dim", "16", "--threads", "1", "--repeat", "1", "--json", "--tolerance", "1e-12");
        assertEquals(ExitCode.FAILURE, r.code(), r.toString());
        Map<?, ?> j = (Map<?, ?>) Json.parse(r.lastLine());
        double err = ((Number) j.get("max_abs_err")).doubleValue();
        assertTrue(err > 1e-12, "fp32 leaves some error: " + err);
        assertEquals(List.of(String.format(java.util.Locale.ROOT,
                "error: demo: result outside the tolerance 1.00e-12 (--tolerance): max_abs_err %.2e, max |dLSE| %.2e",
                err, ((Number) j.get("max_abs_err_lse")).doubleValue())), r.errorLines(), r.toString());
        CliRun table = CliRun.of("demo", "--transport", "local", "--ranks", "1", "--seq", "64", "--heads", "1",
                "--head-dim", "16", "--threads", "1", "--repeat", "1", "--tolerance", "1e-12");
        assertEquals(ExitCode.FAILURE, table.code(), table.toString());
        assertTrue(table.out().startsWith("ranks  seq"), "the table comes first: " + table);
    }

    @Test
    void toleranceDefaultsPerDtypeAndRefusesNegatives() {
        Options f32 = Options.parse("demo", DemoCommand.options(), List.of());
        assertEquals(new DemoTolerance(1e-4, true, DType.F32), DemoTolerance.from(f32, DType.F32));
        assertEquals(new DemoTolerance(4e-3, true, DType.BF16), DemoTolerance.from(f32, DType.BF16));
        Options given = Options.parse("demo", DemoCommand.options(), List.of("--tolerance=0"));
        assertEquals(new DemoTolerance(0, false, DType.BF16), DemoTolerance.from(given, DType.BF16));
        CliRun negative = CliRun.of("demo", "--transport", "local", "--tolerance", "-1");
        assertEquals(ExitCode.USAGE, negative.code(), negative.toString());
        assertEquals(List.of("error: --tolerance: must be >= 0, got -1"), negative.errorLines());
        assertTrue(CliRun.of("demo", "--help").out().contains("default 1e-4 for f32, 4e-3 for bf16"));
    }

    @Test
    void aNanErrorFailsWhateverTheTolerance() {
        DemoJob job = DemoJob.from(Options.parse("demo", DemoCommand.options(), List.of("--seq=8", "--ranks=2")), 2, true);
        RankReport good = new RankReport(0, 1, "h", 1, 0, 1, 0, 1, 1, 1, 1e-7, 1e-7, 4, "cpu");
        RankReport nan = new RankReport(1, 1, "h", 1, 0, 1, 0, 1, 1, 1, Double.NaN, 1e-7, 4, "cpu");
        DemoTolerance loose = new DemoTolerance(1e9, false, DType.F32);
        assertEquals(null, loose.failure(new DemoSummary(job, "local", List.of(good, good))));
        assertEquals("demo: result outside the tolerance 1.00e+09 (--tolerance): max_abs_err NaN",
                loose.failure(new DemoSummary(job, "local", List.of(good, nan))));
        RankReport lse = new RankReport(1, 1, "h", 1, 0, 1, 0, 1, 1, 1, 1e-7, 3e-4, 4, "cpu");
        assertEquals("demo: result outside the tolerance 1.00e-04 (the f32 default; --tolerance to change): "
                + "max |dLSE| 3.00e-04", new DemoTolerance(1e-4, true, DType.F32)
                .failure(new DemoSummary(job, "local", List.of(good, lse))));
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
