package ringattn.transport.ucx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The failure bound, the wait bound, the secret file and bounds on what the environment may say. */
class TransportOptionsTest {
    private static final Map<String, String> TWO = Map.of("RINGATTN_RANK", "1", "RINGATTN_WORLD_SIZE", "2",
            "RINGATTN_COORDINATOR", "127.0.0.1:9", "RINGATTN_SECRET", "s");

    @Test
    void failureBoundFromTheEnvironmentAndASeparateWaitBound() {
        TransportOptions o = TransportOptions.fromEnvironment(with("RINGATTN_TIMEOUT", "3"));
        assertEquals(Duration.ofSeconds(3), o.timeout());
        assertEquals(Duration.ofSeconds(3), o.waitBound(), "the wait bound defaults to the failure bound");
        assertEquals(Duration.ofMillis(600), o.heartbeatInterval());
        o = o.withWaitBound(Duration.ofHours(2)).validate();
        assertEquals(Duration.ofSeconds(3), o.timeout());
        assertEquals(Duration.ofHours(2), o.waitBound());
        assertEquals(TransportOptions.DEFAULT_TIMEOUT, TransportOptions.fromEnvironment(TWO).timeout());
    }

    @Test
    void absurdTimeoutsAreRefusedNamingTheVariable() {
        for (String v : new String[] {"1e300", "0", "-1", "NaN", "Infinity", "soon"}) {
            ConfigurationException e = assertThrows(ConfigurationException.class,
                    () -> TransportOptions.fromEnvironment(with("RINGATTN_TIMEOUT", v)));
            assertTrue(e.getMessage().startsWith("RINGATTN_TIMEOUT: "), e.getMessage());
        }
        ConfigurationException e = assertThrows(ConfigurationException.class,
                () -> TransportOptions.fromEnvironment(TWO).withWaitBound(Duration.ofDays(30)).validate());
        assertTrue(e.getMessage().startsWith("waitBound: must be positive and at most 7 days"), e.getMessage());
    }

    @Test
    void spinWaitFromTheEnvironmentWithinItsBounds() {
        assertEquals(TransportOptions.DEFAULT_SPIN_WAIT, TransportOptions.fromEnvironment(TWO).spinWait());
        assertEquals(Duration.ZERO, TransportOptions.fromEnvironment(with("RINGATTN_SPIN_US", "0")).spinWait());
        assertEquals(Duration.ofNanos(50_000), TransportOptions.fromEnvironment(with("RINGATTN_SPIN_US", " 50 ")).spinWait());
        for (String v : new String[] {"-1", "100001", "1.5", "soon", ""}) {
            ConfigurationException e = assertThrows(ConfigurationException.class,
                    () -> TransportOptions.fromEnvironment(with("RINGATTN_SPIN_US", v)));
            assertTrue(e.getMessage().startsWith("RINGATTN_SPIN_US: "), e.getMessage());
        }
        ConfigurationException e = assertThrows(ConfigurationException.class,
                () -> TransportOptions.fromEnvironment(TWO).withSpinWait(Duration.ofSeconds(1)).validate());
        assertTrue(e.getMessage().startsWith("spinWait: "), e.getMessage());
    }

    @Test
    void secretFileReadableByOthersIsRefused(@TempDir Path dir) throws Exception {
        Path f = Files.writeString(dir.resolve("secret"), "  hunter2\n");
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-r--r--"));
        TransportOptions o = TransportOptions.fromEnvironment(TWO).withSecret(null).withSecretFile(f);
        ConfigurationException e = assertThrows(ConfigurationException.class, o::secretBytes);
        assertTrue(e.getMessage().startsWith("secretFile: " + f + " is readable or writable by group or others"),
                e.getMessage());
        assertTrue(e.getMessage().contains("chmod 600"), e.getMessage());
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-------"));
        assertArrayEquals("hunter2".getBytes(), o.secretBytes());
        Files.writeString(f, "\n");
        e = assertThrows(ConfigurationException.class, o::secretBytes);
        assertTrue(e.getMessage().endsWith("is empty"), e.getMessage());
    }

    @Test
    void hostNameComesFromTheKernelNotHostnameVariable() {
        TransportOptions o = TransportOptions.fromEnvironment(with("HOSTNAME", "first-node-of-the-batch"));
        assertEquals(TransportOptions.localHostName(), o.host());
        assertEquals("node7", TransportOptions.fromEnvironment(with("RINGATTN_HOST", "node7")).host());
    }

    @Test
    void innermostLauncherWins() {
        // mpirun inside an sbatch allocation: every MPI rank inherits the batch step's SLURM_PROCID=0.
        RankInfo r = RankInfo.fromEnvironment(Map.of("SLURM_PROCID", "0", "SLURM_NTASKS", "1", "SLURM_JOB_ID", "23",
                "OMPI_COMM_WORLD_RANK", "1", "OMPI_COMM_WORLD_SIZE", "2", "PMIX_NAMESPACE", "prterun-x-1")).orElseThrow();
        assertEquals(1, r.rank());
        assertEquals(2, r.worldSize());
        assertEquals("openmpi", r.source());
    }

    private static Map<String, String> with(String k, String v) {
        java.util.HashMap<String, String> m = new java.util.HashMap<>(TWO);
        m.put(k, v);
        return m;
    }
}
