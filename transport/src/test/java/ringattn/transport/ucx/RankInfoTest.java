package ringattn.transport.ucx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import org.junit.jupiter.api.Test;

import ringattn.engine.transport.TransportException;

/** Rank and world size from the launchers' environments; options filled from the environment. */
class RankInfoTest {
    @Test
    void slurm() {
        RankInfo i = RankInfo.fromEnvironment(Map.of("SLURM_PROCID", "3", "SLURM_NTASKS", "8", "SLURM_JOB_ID", "4711",
                "SLURM_STEP_ID", "0")).orElseThrow();
        assertEquals(new RankInfo(3, 8, "4711.0", "slurm"), i);
    }

    @Test
    void openMpi() {
        RankInfo i = RankInfo.fromEnvironment(Map.of("OMPI_COMM_WORLD_RANK", "1", "OMPI_COMM_WORLD_SIZE", "2",
                "PMIX_NAMESPACE", "prterun-host-123@1")).orElseThrow();
        assertEquals(new RankInfo(1, 2, "prterun-host-123_1", "openmpi"), i);
    }

    @Test
    void pmi() {
        RankInfo i = RankInfo.fromEnvironment(Map.of("PMI_RANK", "0", "PMI_SIZE", "4", "PMI_JOBID", "j9")).orElseThrow();
        assertEquals(new RankInfo(0, 4, "j9", "pmi"), i);
    }

    @Test
    void explicitVariablesWinOverTheLauncher() {
        RankInfo i = RankInfo.fromEnvironment(Map.of("RINGATTN_RANK", "1", "RINGATTN_WORLD_SIZE", "3",
                "SLURM_PROCID", "0", "SLURM_NTASKS", "1")).orElseThrow();
        assertEquals(new RankInfo(1, 3, "ringattn", "options"), i);
        assertTrue(RankInfo.fromEnvironment(Map.of()).isEmpty());
    }

    @Test
    void badValuesAreNamed() {
        TransportException e = assertThrows(TransportException.class,
                () -> RankInfo.fromEnvironment(Map.of("SLURM_PROCID", "5", "SLURM_NTASKS", "4")));
        assertEquals("rank: must be in [0, 4), got 5 (from SLURM_PROCID)", e.getMessage());
        e = assertThrows(TransportException.class,
                () -> RankInfo.fromEnvironment(Map.of("PMI_RANK", "0", "PMI_SIZE", "0")));
        assertEquals("worldSize: must be >= 1, got 0 (from PMI_SIZE)", e.getMessage());
        e = assertThrows(TransportException.class,
                () -> RankInfo.fromEnvironment(Map.of("OMPI_COMM_WORLD_RANK", "x", "OMPI_COMM_WORLD_SIZE", "2")));
        assertEquals("OMPI_COMM_WORLD_RANK: not an integer: 'x'", e.getMessage());
    }

    @Test
    void optionsFromSlurmEnvironment() {
        TransportOptions o = TransportOptions.fromEnvironment(Map.of("SLURM_PROCID", "2", "SLURM_NTASKS", "4",
                "SLURM_JOB_ID", "77", "RINGATTN_RENDEZVOUS_DIR", "/shared/ringattn", "RINGATTN_TIMEOUT", "12.5",
                "RINGATTN_SECRET", "x", "RINGATTN_HOST", "node7")).validate();
        assertEquals(2, o.rank());
        assertEquals(4, o.worldSize());
        assertEquals("77", o.jobId());
        assertEquals(Path.of("/shared/ringattn"), o.rendezvousDir());
        assertEquals(Duration.ofMillis(12_500), o.timeout());
        assertEquals(Duration.ofSeconds(1), o.heartbeatInterval());
        assertEquals("node7", o.host());
        assertEquals("127.0.0.1", o.bindAddress());
        assertEquals(TransportOptions.DataPath.AUTO, o.dataPath());
    }

    @Test
    void optionsFromMpiEnvironmentWithCoordinator() {
        TransportOptions o = TransportOptions.fromEnvironment(Map.of("OMPI_COMM_WORLD_RANK", "0",
                "OMPI_COMM_WORLD_SIZE", "2", "RINGATTN_COORDINATOR", "10.0.0.1:29500", "RINGATTN_BIND", "10.0.0.1",
                "RINGATTN_DATA_PATH", "tag", "RINGATTN_SECRET", "s")).validate();
        assertEquals(0, o.rank());
        assertEquals(2, o.worldSize());
        assertEquals("10.0.0.1:29500", o.coordinator());
        assertEquals("10.0.0.1", o.bindAddress());
        assertEquals(TransportOptions.DataPath.TAG, o.dataPath());
    }

    @Test
    void explicitOptionsBeatTheEnvironment() {
        TransportOptions o = TransportOptions.defaults().withRank(1, 2).withCoordinator("127.0.0.1:1234")
                .withDefaultsFrom(Map.of("SLURM_PROCID", "0", "SLURM_NTASKS", "8", "RINGATTN_COORDINATOR", "h:1"));
        assertEquals(1, o.rank());
        assertEquals(2, o.worldSize());
        assertEquals("127.0.0.1:1234", o.coordinator());
        assertEquals(0, TransportOptions.fromEnvironment(Map.of()).rank());
        assertEquals(1, TransportOptions.fromEnvironment(Map.of()).worldSize());
    }

    @Test
    void singleRankNeedsNoExchange() {
        TransportOptions o = TransportOptions.fromEnvironment(Map.of()).validate();
        try (UcxTransport t = Bootstrap.connect(o)) {
            t.allocateBuffers(2, 1024);
            t.barrier(Duration.ofSeconds(1));
            assertEquals(1, t.allGather(new byte[] {7}, Duration.ofSeconds(1)).length);
        }
    }
}
