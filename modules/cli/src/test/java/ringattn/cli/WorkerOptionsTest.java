package ringattn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import ringattn.engine.transport.RankFailedException;
import ringattn.transport.ucx.ConfigurationException;
import ringattn.transport.ucx.TransportOptions;

/** Finding 7 and 11: the worker's failure bound comes from --timeout or RINGATTN_TIMEOUT; refusals exit 2. */
class WorkerOptionsTest {
    private static final Map<String, String> ENV = Map.of("RINGATTN_RANK", "1", "RINGATTN_WORLD_SIZE", "2",
            "RINGATTN_TIMEOUT", "3", "RINGATTN_SECRET", "s", "RINGATTN_COORDINATOR", "127.0.0.1:9");

    private static TransportOptions options(Map<String, String> env, String... args) {
        return WorkerCommand.transportOptions(Options.parse("worker demo", WorkerCommand.demoOptions(), List.of(args)), env);
    }

    @Test
    void environmentTimeoutIsTheFailureBoundAndTheJobRaisesOnlyTheWaitBound() {
        TransportOptions t = options(ENV);
        assertEquals(Duration.ofSeconds(3), t.timeout());
        TransportOptions job = WorkerCommand.forJob(t, Duration.ofHours(2));
        assertEquals(Duration.ofSeconds(3), job.timeout(), "a stopped rank must still be caught within 3 s");
        assertEquals(Duration.ofHours(2), job.waitBound());
        assertEquals(Duration.ofSeconds(3), WorkerCommand.forJob(t, Duration.ofSeconds(1)).waitBound());
    }

    @Test
    void timeoutFlagWinsOverTheEnvironment() {
        assertEquals(Duration.ofMillis(1500), options(ENV, "--timeout=1.5").timeout());
        Map<String, String> noTimeout = new java.util.HashMap<>(ENV);
        noTimeout.remove("RINGATTN_TIMEOUT");
        assertEquals(TransportOptions.DEFAULT_TIMEOUT, options(noTimeout).timeout());
    }

    @Test
    void insecureIsAFlag() {
        Map<String, String> noSecret = new java.util.HashMap<>(ENV);
        noSecret.remove("RINGATTN_SECRET");
        TransportOptions t = options(noSecret);
        ConfigurationException e = org.junit.jupiter.api.Assertions.assertThrows(ConfigurationException.class, t::validate);
        assertTrue(e.getMessage().contains("--insecure"), e.getMessage());
        options(noSecret, "--insecure").validate();
    }

    /**
     * Two jobs given one coordinator port: the second job's rank 0 cannot bind it. That is the jobs'
     * setup (exit 2, one line naming the address), not a failed rank nor an internal error (exit 1).
     */
    @Test
    @org.junit.jupiter.api.Timeout(60)
    void aCoordinatorPortTakenByAnotherJobIsAConfigurationError(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        try (java.net.ServerSocket other = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            String address = "127.0.0.1:" + other.getLocalPort();
            CliRun r = CliProcess.run(dir, Map.of("RINGATTN_RANK", "0", "RINGATTN_WORLD_SIZE", "2",
                    "RINGATTN_SECRET", "s", "RINGATTN_COORDINATOR", address), Duration.ofSeconds(50),
                    "worker", "demo", "--seq", "64", "--heads", "1", "--head-dim", "16", "--threads", "1");
            assertEquals(ExitCode.USAGE, r.code(), r.toString());
            assertEquals(List.of("error: coordinator: cannot bind " + address + ": Address already in use (another job on "
                    + "this port? give each job its own port, or let PMIx or a rendezvous directory choose one)"),
                    r.errorLines(), r.toString());
        }
    }

    @Test
    void refusedRanksExitTwoMissingRanksThree() {
        assertEquals(ExitCode.USAGE, Main.exitCode(new ConfigurationException("coordinator x refused rank 1: wrong job secret")));
        assertEquals(ExitCode.RANK_FAILED, Main.exitCode(new RankFailedException(1, null, "bootstrap: ranks 1 did not join")));
    }
}
