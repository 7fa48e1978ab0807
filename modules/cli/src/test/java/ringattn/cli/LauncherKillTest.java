package ringattn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * SIGKILL of {@code demo --transport ucx} (no finally, no shutdown hook of the launcher runs): its rank
 * processes stop within seconds and its scratch directory goes with them.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class LauncherKillTest {
    @TempDir
    Path tmp;

    @Test
    void killingTheDemoLauncherStopsItsRanksAndRemovesItsScratchDirectory() throws Exception {
        // Enough forward passes to keep the ranks busy for far longer than the bound below.
        List<String> cmd = new ArrayList<>(CliProcess.command(List.of("demo", "--transport", "ucx", "--ranks", "2",
                "--seq", "8192", "--heads", "1", "--head-dim", "16", "--threads", "1", "--repeat", "1000",
                "--timeout", "60")));
        cmd.add(1, "-Djava.io.tmpdir=" + tmp); // the launcher's scratch root, where this test can see it
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD);
        pb.environment().keySet().removeIf(k -> k.startsWith("RINGATTN_") || k.startsWith("SLURM_"));
        Process launcher = pb.start();
        Map<Integer, Long> ranks = new TreeMap<>();
        try {
            ranks.putAll(rankPids(launcher, 2, Duration.ofSeconds(90)));
            Path root = ScratchDir.root(tmp);
            assertEquals(1, scratchDirs(root, launcher.pid()).size(), "the launcher's scratch directory in " + root);
            launcher.destroyForcibly();
            long killed = System.nanoTime();
            assertTrue(launcher.waitFor(10, TimeUnit.SECONDS), "the launcher survived SIGKILL");
            while ((ranks.values().stream().anyMatch(LauncherKillTest::alive) || !scratchDirs(root, launcher.pid()).isEmpty())
                    && System.nanoTime() - killed < TimeUnit.SECONDS.toNanos(20)) {
                Thread.sleep(100);
            }
            for (var r : ranks.entrySet()) {
                assertFalse(alive(r.getValue()), "rank " + r.getKey() + " (pid " + r.getValue()
                        + ") still runs 20 s after its launcher was killed");
            }
            assertEquals(List.of(), scratchDirs(root, launcher.pid()), "the killed launcher's scratch directory");
        } finally {
            launcher.destroyForcibly();
            ranks.values().forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
        }
    }

    static boolean alive(long pid) {
        return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
    }

    static List<Path> scratchDirs(Path root, long launcherPid) throws IOException {
        try (var s = Files.list(root)) {
            return s.filter(p -> p.getFileName().toString().startsWith("demo-" + launcherPid + "-")).toList();
        }
    }

    /** Reads the launcher's stderr until every rank's banner ({@code [rank R] rank R/N pid P}) came. */
    static Map<Integer, Long> rankPids(Process launcher, int worldSize, Duration wait) throws InterruptedException {
        LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
        Thread.ofPlatform().daemon().start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(launcher.getErrorStream(), StandardCharsets.UTF_8))) {
                r.lines().forEach(lines::add);
            } catch (IOException | UncheckedIOException ignored) {
                // the launcher ended
            }
        });
        Pattern banner = Pattern.compile("\\[rank (\\d+)] rank \\d+/" + worldSize + " pid (\\d+) ");
        Map<Integer, Long> pids = new TreeMap<>();
        StringBuilder seen = new StringBuilder();
        long end = System.nanoTime() + wait.toNanos();
        while (pids.size() < worldSize) {
            String line = lines.poll(Math.max(1, end - System.nanoTime()), TimeUnit.NANOSECONDS);
            if (line == null) {
                throw new AssertionError("not every rank started within " + wait + "; launcher stderr:\n" + seen);
            }
            seen.append(line).append('\n');
            Matcher m = banner.matcher(line);
            if (m.find()) {
                pids.put(Integer.parseInt(m.group(1)), Long.parseLong(m.group(2)));
            }
        }
        return pids;
    }
}
