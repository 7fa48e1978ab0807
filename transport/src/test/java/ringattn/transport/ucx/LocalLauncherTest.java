package ringattn.transport.ucx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Prefixed output, the first failure ends the job, nothing is left running. */
class LocalLauncherTest {
    /** Rank 1 exits 7 after a moment; the others would sleep for a minute (and start a child). */
    public static final class Sleeper {
        public static void main(String[] args) throws Exception {
            int rank = Integer.parseInt(System.getenv("RINGATTN_RANK"));
            System.err.println(RankBanner.line(rank, Integer.parseInt(System.getenv("RINGATTN_WORLD_SIZE")), "here"));
            System.out.println("hello from " + rank);
            if (rank == Integer.parseInt(args[0])) {
                Thread.sleep(500);
                System.exit(7);
            }
            new ProcessBuilder("sleep", "60").start();
            Thread.sleep(60_000);
        }
    }

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void firstFailureDestroysTheOtherRanksAndTheirChildren() {
        LocalLauncher.Spec spec = LocalLauncher.Spec.sameJvm(Sleeper.class.getName(), List.of("1"), Map.of(),
                Duration.ofSeconds(20)).withFailureGrace(Duration.ZERO);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        long t0 = System.nanoTime();
        java.time.Instant started = java.time.Instant.now().minusSeconds(1);
        LocalLauncher.Result r = LocalLauncher.run(spec, 3, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        long ms = (System.nanoTime() - t0) / 1_000_000;
        String o = out.toString(StandardCharsets.UTF_8);
        String e = err.toString(StandardCharsets.UTF_8);
        assertFalse(r.succeeded());
        assertEquals(1, r.failedRank());
        assertEquals("rank 1 exited with code 7", r.failure());
        assertEquals(List.of(-1, 7, -1), r.exitCodes());
        for (int rank = 0; rank < 3; rank++) {
            assertTrue(o.contains("[rank " + rank + "] hello from " + rank), o);
            assertTrue(e.contains("[rank " + rank + "] rank " + rank + "/3 pid " + r.pids().get(rank) + " host here"), e);
        }
        assertTrue(ms < 15_000, "took " + ms + " ms");
        for (long pid : r.pids()) {
            assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "rank pid " + pid + " alive");
        }
        boolean sleepLeft = ProcessHandle.allProcesses().anyMatch(p -> p.info().commandLine().orElse("").endsWith("sleep 60")
                && p.info().startInstant().map(i -> i.isAfter(started)).orElse(false) && p.isAlive());
        assertFalse(sleepLeft, "a child of a rank is still running");
    }

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void deadlineEndsAHungJob() {
        LocalLauncher.Spec spec = LocalLauncher.Spec.sameJvm(Sleeper.class.getName(), List.of("-1"), Map.of(),
                Duration.ofSeconds(2));
        LocalLauncher.Result r = LocalLauncher.run(spec, 2, new PrintStream(new ByteArrayOutputStream()),
                new PrintStream(new ByteArrayOutputStream()));
        assertEquals("job did not finish within PT2S", r.failure());
        assertEquals(List.of(-1, -1), r.exitCodes());
        for (long pid : r.pids()) {
            assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false));
        }
    }
}
