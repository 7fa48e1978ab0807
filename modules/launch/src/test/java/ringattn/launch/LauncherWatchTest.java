package ringattn.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The watch's stop line, cleanup and exit status, in this JVM with a stand-in stop. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class LauncherWatchTest {
    @Test
    void stopsOnceTheWatchedProcessIsKilledAndNotBefore() throws Exception {
        Process launcher = new ProcessBuilder("sleep", "60").start();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        AtomicBoolean cleaned = new AtomicBoolean();
        CompletableFuture<Integer> stopped = new CompletableFuture<>();
        Thread watch = LauncherWatch.watch(launcher.pid(), "1", new PrintStream(err, true, StandardCharsets.UTF_8),
                () -> cleaned.set(true), stopped::complete);
        try {
            Thread.sleep(3 * LauncherWatch.POLL.toMillis());
            assertFalse(stopped.isDone(), "stopped while the launcher runs");
            launcher.destroyForcibly();
            assertEquals(LauncherWatch.EXIT_CODE, stopped.get(10, TimeUnit.SECONDS));
            assertTrue(cleaned.get(), "cleanup did not run");
            assertEquals("ringattn: rank 1: launcher (pid " + launcher.pid() + ") exited; stopping\n",
                    err.toString(StandardCharsets.UTF_8));
        } finally {
            watch.interrupt();
            launcher.destroyForcibly();
        }
    }

    @Test
    void aFailingCleanupIsReportedAndTheRankStillStops() throws Exception {
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        CompletableFuture<Integer> stopped = new CompletableFuture<>();
        LauncherWatch.watch(gone.pid(), "0", new PrintStream(err, true, StandardCharsets.UTF_8),
                () -> {
                    throw new IllegalStateException("disk gone");
                }, stopped::complete);
        assertEquals(LauncherWatch.EXIT_CODE, stopped.get(10, TimeUnit.SECONDS));
        assertTrue(err.toString(StandardCharsets.UTF_8).endsWith("ringattn: rank 0: cleanup failed: disk gone\n"), err.toString());
    }

    @Test
    void theEnvironmentDecidesWhetherToWatch() {
        assertFalse(LauncherWatch.startFromEnvironment(Map.of(), () -> { }));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LauncherWatch.startFromEnvironment(Map.of(LauncherWatch.PARENT_PID_ENV, "12x"), () -> { }));
        assertEquals("RINGATTN_PARENT_PID: expected the launcher's process id, got '12x'", e.getMessage());
    }
}
