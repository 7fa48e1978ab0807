package ringattn.transport.ucx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import ringattn.engine.transport.RankFailedException;
import ringattn.engine.transport.TransportException;
import ringattn.launch.LocalLauncher;

/**
 * Dead, hung and misconfigured ranks: every other rank ends with a clear error within the bound.
 * Detection times are measured from the victim's own {@code SIGNAL ... at MILLIS} line (printed just
 * before it signals itself) to each rank's {@code FAILED ... at MILLIS} line, with margins for 5 JVMs
 * sharing a loaded 2-core machine, each margin small enough to tell the mechanism under test from
 * the slower one it must not fall back to.
 */
class FailureTest {
    static final Duration BOUND = Duration.ofSeconds(5);
    /**
     * Failure bound (RINGATTN_TIMEOUT) of the kill cases: long, so that a death noticed only by the
     * heartbeat deadline cannot pass for one noticed at once.
     */
    static final Duration KILL_TIMEOUT = Duration.ofSeconds(30);
    /**
     * A killed process's sockets close at once, so its death is seen within milliseconds (measured:
     * tens of ms); 10 s allows for spawning {@code kill}, GC pauses and descheduling of 5 JVMs on 2
     * busy cores, and is a third of {@link #KILL_TIMEOUT}, the heartbeat path's latency.
     */
    static final Duration KILL_DETECTED = Duration.ofSeconds(10);
    /**
     * A stopped rank is seen by the read deadline, {@link #BOUND} after its last heartbeat, so at most
     * {@code BOUND} after the stop; then rank 0 broadcasts it. 4 s of margin covers a detecting JVM
     * that is itself descheduled on a loaded machine, and keeps the bound below 2 × BOUND, which a
     * rank that waited for a second deadline would need.
     */
    static final Duration HANG_DETECTED = BOUND.plusSeconds(4);
    private static final Pattern FAILED = Pattern.compile(
            "\\[rank (\\d+)] FAILED after [0-9.]+ s at (\\d+): RankFailedException rank=(\\d+) host=(\\S+):");
    private static final Pattern SIGNALED = Pattern.compile("\\[rank (\\d+)] SIGNAL \\S+ at (\\d+)");

    @ParameterizedTest(name = "data path {0}, rank {1} killed, UCX peer-error mode {2}")
    @CsvSource({"auto, 2, false", "tag, 2, false", "auto, 0, false", "auto, 2, true"})
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void killedRankMidRotationFailsEveryOtherRankNamingIt(String dataPath, int victim, boolean peerErrorMode) {
        Jobs.Outcome o = Jobs.run(4, List.of("4096,1048576,4194304,1048576,4096", "kill:" + victim + ":5"),
                Map.of("RINGATTN_TIMEOUT", Long.toString(KILL_TIMEOUT.toSeconds()), "RINGATTN_DATA_PATH", dataPath,
                        "RINGATTN_PEER_ERROR_MODE", Boolean.toString(peerErrorMode)),
                Duration.ofSeconds(50), Duration.ofSeconds(15));
        assertFailedNaming(o, victim, 4, KILL_DETECTED); // a killed process is seen at once, close included
    }

    @ParameterizedTest(name = "rank {0} stopped (SIGSTOP)")
    @ValueSource(ints = {1, 0})
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void hungRankIsDetectedByHeartbeatWithinTheBound(int victim) {
        // The stopped rank never exits by itself: a short grace after the first failure, then it is killed.
        Jobs.Outcome o = Jobs.run(3, List.of("4096,1048576,4096,4096", "stop:" + victim + ":2"),
                Map.of("RINGATTN_TIMEOUT", Long.toString(BOUND.toSeconds())),
                Duration.ofSeconds(50), Duration.ofSeconds(3));
        assertFailedNaming(o, victim, 3, HANG_DETECTED);
    }

    /** Every rank but {@code dead} exits 3 with a RankFailedException naming it within {@code bound}. */
    private static void assertFailedNaming(Jobs.Outcome o, int dead, int worldSize, Duration bound) {
        Matcher s = SIGNALED.matcher(o.err());
        assertTrue(s.find(), "the rank did not signal itself:\n" + o.all());
        long signaledAt = Long.parseLong(s.group(2));
        assertEquals(dead, Integer.parseInt(s.group(1)));
        int failed = 0;
        Matcher m = FAILED.matcher(o.err());
        while (m.find()) {
            int r = Integer.parseInt(m.group(1));
            assertNotEquals(dead, r);
            assertEquals(dead, Integer.parseInt(m.group(3)), "rank " + r + " names the wrong rank:\n" + o.all());
            long latency = Long.parseLong(m.group(2)) - signaledAt;
            System.out.println("rank " + r + " detected the failure of rank " + dead + " after " + latency + " ms");
            assertTrue(latency <= bound.toMillis(), "rank " + r + " took " + latency + " ms");
            assertEquals(3, o.result().exitCodes().get(r), "exit code of rank " + r);
            failed++;
        }
        assertEquals(worldSize - 1, failed, "every other rank fails naming rank " + dead + ":\n" + o.all());
        assertTrue(o.result().exitCodes().get(dead) != 0);
        for (long pid : o.result().pids()) {
            assertTrue(ProcessHandle.of(pid).map(h -> !h.isAlive()).orElse(true), "pid " + pid + " still running");
        }
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void wrongJobSecretIsRefusedOnBothSides() {
        Jobs.Outcome o = Jobs.run(2, List.of("4096", "env:1:RINGATTN_SECRET=not-the-job-secret"),
                Map.of("RINGATTN_TIMEOUT", "3"), Duration.ofSeconds(40), Duration.ofSeconds(10));
        assertTrue(o.err().matches("(?s).*\\[rank 1] FAILED: ringattn.transport.ucx.ConfigurationException: coordinator \\S+ refused this rank: wrong job secret.*"),
                o.all());
        assertTrue(o.err().contains("[rank 0] ringattn: rank 0: refused a connection from"), o.all());
        assertTrue(o.err().matches("(?s).*\\[rank 0] FAILED after .*rank 1 failed: bootstrap: ranks 1 did not join within PT3S; refused a connection from \\S+: wrong job secret.*"),
                o.all());
        // Rank 1 is refused (its configuration: 2); rank 0 ends without it (a missing rank: 3).
        assertEquals(List.of(3, 2), o.result().exitCodes().stream().map(c -> c == -1 ? 2 : c).toList());
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void wrongJobSecretInRendezvousDirectory(@TempDir Path dir) throws Exception {
        Jobs.Outcome o = Jobs.run(2, List.of("4096", "env:1:RINGATTN_SECRET=not-the-job-secret"),
                Map.of("RINGATTN_TIMEOUT", "3", "RINGATTN_RENDEZVOUS_DIR", dir.toString()),
                Duration.ofSeconds(40), Duration.ofSeconds(10));
        // Rank 1 never uses rank 0's entry: its signature does not verify under rank 1's secret.
        assertTrue(o.err().contains("[rank 1] FAILED after"), o.all());
        assertTrue(o.err().contains("no usable entry of rank 0 in "), o.all());
        assertTrue(o.err().contains("(rank 0: its rendezvous entry from "), o.all());
        assertTrue(o.err().matches("(?s).*\\[rank 0] FAILED after .*ranks 1 \\(its rendezvous entry from \\S+ is signed with a different job secret\\) did not join.*"),
                o.all());
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void ranksDisagreeingOnJobParametersFailNamingThem() {
        // Ranks 0 and 2 name the disagreement. Rank 1 names it too when it joined before rank 2;
        // when it comes later, rank 0 has already ended the job and rank 1 fails on its own within
        // the bound (coordinator gone). The launcher's grace outlasts that bound, so every rank
        // reports its own error.
        Jobs.Outcome o = Jobs.run(3, List.of("4096", "env:2:RINGATTN_JOB_PARAMS=heads=8"),
                Map.of("RINGATTN_TIMEOUT", "10", "RINGATTN_JOB_PARAMS", "heads=16"),
                Duration.ofSeconds(45), Duration.ofSeconds(25));
        // Rank 2 is refused at once; rank 0 keeps accepting (another job's rank must not end this
        // one) until the bound, then tells rank 1, which joined, why the job ends.
        assertTrue(o.err().contains("[rank 2] FAILED: ringattn.transport.ucx.ConfigurationException: ")
                && o.err().contains("refused rank 2: jobParams: rank 2 on "), o.all());
        for (int r : new int[] {0, 1}) {
            assertTrue(o.err().matches("(?s).*\\[rank " + r + "] FAILED after [^\\n]*rank 2 failed: bootstrap: ranks 2 did not join "
                    + "within PT10S; refused a connection from \\S+: jobParams: rank 2 on .*"), o.all());
        }
    }

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void ranksDisagreeingOnBufferSizesAllFail() {
        Exception e = assertThrows(TransportException.class, () -> InProcess.run(2, "auto", t -> {
            t.allocateBuffers(2, t.rank() == 0 ? 4096 : 8192);
            return null;
        }));
        assertTrue(e.getMessage().contains("ranks disagree on buffer sizes"), e.getMessage());
    }

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void messageSizeMismatchIsAnErrorNotAHang() {
        for (String dp : List.of("tag", "put")) {
            Exception e = assertThrows(TransportException.class, () -> InProcess.run(2, dp, t -> {
                t.allocateBuffers(2, 8192);
                var recv = t.receiveFromPrevious(1, 4096, 0);
                var send = t.sendToNext(0, t.rank() == 0 ? 4096 : 1000, 0);
                send.await(t.timeout());
                recv.await(t.timeout());
                return null;
            }));
            assertTrue(e.getMessage().contains("ranks disagree on message size"), dp + ": " + e.getMessage());
        }
    }

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void unreachableCoordinatorFailsWithinTheTimeout() {
        int port = LocalLauncher.freePort();
        long t0 = System.nanoTime();
        TransportException e = assertThrows(TransportException.class, () -> Bootstrap.connect(
                InProcess.options(1, 2, port, "auto").withTimeout(Duration.ofSeconds(2))));
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(e.getMessage().contains("coordinator: cannot join at 127.0.0.1:" + port + " within PT2S"), e.getMessage());
        assertTrue(ms < 5000, "took " + ms + " ms");
    }

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void badArgumentsAreNamed(@TempDir Path dir) throws Exception {
        TransportException e = assertThrows(TransportException.class,
                () -> Bootstrap.connect(InProcess.options(0, 0, 1, "auto")));
        assertTrue(e.getMessage().startsWith("worldSize: must be >= 1, got 0"), e.getMessage());
        e = assertThrows(TransportException.class, () -> Bootstrap.connect(InProcess.options(3, 2, 1, "auto")));
        assertTrue(e.getMessage().startsWith("rank: must be in [0, 2), got 3"), e.getMessage());
        e = assertThrows(TransportException.class, () -> Bootstrap.connect(InProcess.options(0, 2, 1, "auto")
                .withCoordinator("nohostport")));
        assertTrue(e.getMessage().startsWith("coordinator: expected host:port"), e.getMessage());
        e = assertThrows(TransportException.class, () -> Bootstrap.connect(InProcess.options(0, 2, 1, "auto")
                .withCoordinator(null)));
        assertTrue(e.getMessage().startsWith("coordinator/rendezvousDir: a job of 2 ranks needs one"), e.getMessage());
        Path file = Files.writeString(dir.resolve("a-file"), "x");
        e = assertThrows(TransportException.class, () -> Bootstrap.connect(InProcess.options(1, 2, 1, "auto")
                .withCoordinator(null).withRendezvousDir(file.resolve("sub"))));
        assertTrue(e.getMessage().startsWith("rendezvousDir: cannot use"), e.getMessage());
        e = assertThrows(TransportException.class, () -> Bootstrap.connect(InProcess.options(0, 2, 1, "auto")
                .withBindAddress("no-such-interface.invalid")));
        assertTrue(e.getMessage().startsWith("bindAddress: 'no-such-interface.invalid' is neither"), e.getMessage());
    }

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void coordinatorBindsTheNamedInterface() throws Exception {
        int port = LocalLauncher.freePort();
        List<Integer> checked = InProcess.run(2, r -> InProcess.options(r, 2, port, "auto").withBindAddress("lo")
                .withCoordinator("localhost:" + port), t -> RotationWorker.rotate(t, new long[] {4096}, -1, -1));
        assertEquals(List.of(1, 1), checked);
    }

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void abortFailsTheOtherRanksAtOnce() {
        long t0 = System.nanoTime();
        Exception e = assertThrows(RankFailedException.class, () -> InProcess.run(3, "auto", t -> {
            t.allocateBuffers(2, 4096);
            if (t.rank() == 1) {
                t.abort(new IllegalStateException("model file missing"));
                throw new RankFailedException(1, t.host(), "aborted");
            }
            t.receiveFromPrevious(1, 4096, 0).await(t.timeout());
            return null;
        }));
        assertTrue(e.getMessage().contains("rank 1"), e.getMessage());
        assertTrue((System.nanoTime() - t0) / 1_000_000 < 8000);
    }
}
