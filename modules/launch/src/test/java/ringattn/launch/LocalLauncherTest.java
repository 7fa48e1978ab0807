package ringattn.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
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

/** Prefixed output, the first failure ends the job, nothing is left running, not even when the launcher is killed. */
class LocalLauncherTest {
    /**
     * Rank {@code args[0]} exits 7 once every other rank is ready; the others print, start a child,
     * then say they are ready (a file {@code ready-R} in the folder {@code args[1]}) and would sleep for
     * two minutes. Waiting for the others' files, not for a fixed time, keeps the order on a loaded
     * machine where a JVM may take seconds to start. The failing rank prints its exit time.
     */
    public static final class Sleeper {
        public static void main(String[] args) throws Exception {
            int rank = Integer.parseInt(System.getenv("RINGATTN_RANK"));
            int worldSize = Integer.parseInt(System.getenv("RINGATTN_WORLD_SIZE"));
            Path ready = Path.of(args[1]);
            System.err.println(banner(rank, worldSize));
            System.out.println("hello from " + rank);
            if (rank == Integer.parseInt(args[0])) {
                long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                for (int r = 0; r < worldSize; r++) {
                    while (r != rank && !Files.exists(ready.resolve("ready-" + r))) {
                        if (System.nanoTime() > end) {
                            System.err.println("rank " + r + " was not ready within 60 s");
                            System.exit(9);
                        }
                        Thread.sleep(20);
                    }
                }
                System.err.println("exiting at " + System.currentTimeMillis());
                System.exit(7);
            }
            new ProcessBuilder("sleep", "120").start();
            System.out.flush();
            Files.createFile(ready.resolve("ready-" + rank));
            Thread.sleep(120_000);
        }
    }

    /** A rank that would sleep for a minute, but watches its launcher. */
    public static final class WatchedSleeper {
        public static void main(String[] args) throws Exception {
            LauncherWatch.startFromEnvironment(System.getenv(), () -> { });
            int rank = Integer.parseInt(System.getenv("RINGATTN_RANK"));
            System.err.println(banner(rank, Integer.parseInt(System.getenv("RINGATTN_WORLD_SIZE"))));
            Thread.sleep(60_000);
        }
    }

    /** The line a rank prints first, as the transport's {@code RankBanner} does: {@code rank R/N pid P host here}. */
    static String banner(int rank, int worldSize) {
        return "rank " + rank + "/" + worldSize + " pid " + ProcessHandle.current().pid() + " host here";
    }

    /** A launcher process: runs args[0] ranks of {@link WatchedSleeper}. */
    public static final class SleeperLauncher {
        public static void main(String[] args) {
            LocalLauncher.run(LocalLauncher.Spec.sameJvm(WatchedSleeper.class.getName(), List.of(), Map.of(),
                    Duration.ofMinutes(2)), Integer.parseInt(args[0]), System.out, System.err);
        }
    }

    @Test
    @Timeout(value = 90, unit = TimeUnit.SECONDS)
    void ranksStopWithinSecondsWhenTheLauncherIsKilled() throws Exception {
        LocalLauncher.Spec spec = LocalLauncher.Spec.sameJvm(SleeperLauncher.class.getName(), List.of("2"), Map.of(),
                Duration.ofMinutes(2));
        List<String> cmd = new ArrayList<>(List.of(spec.java().toString()));
        cmd.addAll(spec.jvmArgs());
        cmd.addAll(List.of("-cp", spec.classPath(), spec.mainClass(), "2"));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD);
        pb.environment().keySet().removeIf(k -> k.startsWith("RINGATTN_"));
        Process launcher = pb.start();
        Map<Integer, Long> ranks = new TreeMap<>();
        try {
            ranks.putAll(rankPids(launcher, 2, Duration.ofSeconds(60)));
            launcher.destroyForcibly(); // SIGKILL: no shutdown hook of the launcher runs
            long killed = System.nanoTime();
            assertTrue(launcher.waitFor(10, TimeUnit.SECONDS), "the launcher survived SIGKILL");
            while (ranks.values().stream().anyMatch(LocalLauncherTest::alive)
                    && System.nanoTime() - killed < TimeUnit.SECONDS.toNanos(20)) {
                Thread.sleep(100);
            }
            for (var r : ranks.entrySet()) {
                assertFalse(alive(r.getValue()), "rank " + r.getKey() + " (pid " + r.getValue()
                        + ") still runs 20 s after its launcher was killed");
            }
        } finally {
            launcher.destroyForcibly();
            ranks.values().forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
        }
    }

    static boolean alive(long pid) {
        return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
    }

    /** Reads the launcher's stderr until every rank's banner ({@code [rank R] rank R/N pid P}) came. */
    static Map<Integer, Long> rankPids(Process launcher, int worldSize, Duration wait) throws InterruptedException {
        LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
        Thread.ofPlatform().daemon().start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(launcher.getErrorStream(), StandardCharsets.UTF_8))) {
                r.lines().forEach(lines::add);
            } catch (java.io.IOException | java.io.UncheckedIOException ignored) {
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

    /** Rank 1's {@code exiting at MILLIS} line. */
    private static final Pattern EXITING = Pattern.compile("\\[rank 1] exiting at (\\d+)");

    /**
     * The job ends within 20 s of rank 1's exit: the launcher notices it (50 ms polls), destroys the
     * other ranks' trees (SIGTERM, up to 2 s, SIGKILL) and drains their output (up to 2 s each). 20 s
     * is that with room for a loaded 2-core machine, and still far below the 120 s the other ranks
     * would sleep if they were left alone.
     */
    static final Duration END_AFTER_FAILURE = Duration.ofSeconds(20);

    @Test
    @Timeout(value = 100, unit = TimeUnit.SECONDS)
    void firstFailureDestroysTheOtherRanksAndTheirChildren(@TempDir Path ready) {
        LocalLauncher.Spec spec = LocalLauncher.Spec.sameJvm(Sleeper.class.getName(), List.of("1", ready.toString()),
                Map.of(), Duration.ofSeconds(80)).withFailureGrace(Duration.ZERO);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        java.time.Instant started = java.time.Instant.now().minusSeconds(1);
        LocalLauncher.Result r = LocalLauncher.run(spec, 3, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        long ended = System.currentTimeMillis();
        String o = out.toString(StandardCharsets.UTF_8);
        String e = err.toString(StandardCharsets.UTF_8);
        assertFalse(r.succeeded());
        assertEquals(1, r.failedRank(), e);
        assertEquals("rank 1 exited with code 7", r.failure(), e);
        assertEquals(List.of(-1, 7, -1), r.exitCodes());
        for (int rank = 0; rank < 3; rank++) {
            assertTrue(o.contains("[rank " + rank + "] hello from " + rank), o);
            assertTrue(e.contains("[rank " + rank + "] rank " + rank + "/3 pid " + r.pids().get(rank) + " host here"), e);
        }
        Matcher exiting = EXITING.matcher(e);
        assertTrue(exiting.find(), e);
        long ms = ended - Long.parseLong(exiting.group(1));
        assertTrue(ms <= END_AFTER_FAILURE.toMillis(), "the job ended " + ms + " ms after rank 1 exited");
        for (long pid : r.pids()) {
            assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "rank pid " + pid + " alive");
        }
        boolean sleepLeft = ProcessHandle.allProcesses().anyMatch(p -> p.info().commandLine().orElse("").endsWith("sleep 120")
                && p.info().startInstant().map(i -> i.isAfter(started)).orElse(false) && p.isAlive());
        assertFalse(sleepLeft, "a child of a rank is still running");
    }

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void deadlineEndsAHungJob(@TempDir Path ready) {
        LocalLauncher.Spec spec = LocalLauncher.Spec.sameJvm(Sleeper.class.getName(), List.of("-1", ready.toString()),
                Map.of(), Duration.ofSeconds(2));
        LocalLauncher.Result r = LocalLauncher.run(spec, 2, new PrintStream(new ByteArrayOutputStream()),
                new PrintStream(new ByteArrayOutputStream()));
        assertEquals("job did not finish within PT2S", r.failure());
        assertEquals(List.of(-1, -1), r.exitCodes());
        for (long pid : r.pids()) {
            assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false));
        }
    }

    /**
     * Coordinator ports come from below the kernel's ephemeral range (where no outgoing connection or
     * UCX listener takes one between the check and the bind), differ within a JVM, and bind.
     */
    @Test
    void freePortsLieOutsideTheEphemeralRangeAndDiffer() throws Exception {
        int[] range = LocalLauncher.ephemeralRange();
        java.util.Set<Integer> seen = new java.util.HashSet<>();
        for (int i = 0; i < 50; i++) {
            int port = LocalLauncher.freePort();
            assertTrue(port < range[0] || port > range[1], port + " lies in the ephemeral range " + range[0] + "-" + range[1]);
            assertTrue(seen.add(port), "port " + port + " handed out twice");
        }
        int port = LocalLauncher.freePort();
        try (java.net.ServerSocket s = new java.net.ServerSocket()) {
            s.bind(new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), port));
        }
    }
}
