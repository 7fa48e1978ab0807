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

    @Test
    void refusedRanksExitTwoMissingRanksThree() {
        assertEquals(ExitCode.USAGE, Main.exitCode(new ConfigurationException("coordinator x refused rank 1: wrong job secret")));
        assertEquals(ExitCode.RANK_FAILED, Main.exitCode(new RankFailedException(1, null, "bootstrap: ranks 1 did not join")));
    }
}
