package ringattn.transport.ucx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import ringattn.engine.transport.InJvmRing;

/** Blocks rotate P−1 steps around rings of separate rank processes and arrive byte for byte. */
class RingRotationTest {
    /** Several sizes, including empty, odd and multi-MiB (UCX eager and rendezvous protocols). */
    static final String SIZES = "0,1,4099,65536,1048576,3000000";
    static final int SIZE_COUNT = 6;

    @ParameterizedTest(name = "{0} ranks, data path {1}, UCX_TLS={2}")
    @CsvSource({
        "2, auto, ''",
        "3, auto, ''",
        "4, auto, ''",
        "3, tag, ''",
        "2, put, ''",
        "3, tag, tcp",
    })
    @Timeout(value = 90, unit = TimeUnit.SECONDS)
    void ranksAsProcessesRotateEveryBlockIntact(int worldSize, String dataPath, String tls) {
        Map<String, String> env = new java.util.HashMap<>(Map.of("RINGATTN_TIMEOUT", "20", "RINGATTN_DATA_PATH", dataPath,
                "UCX_NET_DEVICES", "lo"));
        if (!tls.isEmpty()) {
            env.put("UCX_TLS", tls);
        }
        Jobs.Outcome o = Jobs.run(worldSize, List.of(SIZES), env, Duration.ofSeconds(80), Duration.ofSeconds(2));
        assertTrue(o.result().succeeded(), () -> "job failed: " + o.result() + "\n" + o.all());
        for (int r = 0; r < worldSize; r++) {
            assertEquals(0, o.result().exitCodes().get(r));
            assertTrue(o.out().contains("[rank " + r + "] OK rank " + r + " checked " + SIZE_COUNT * (worldSize - 1) + " blocks"),
                    "rank " + r + " did not check every block");
            assertTrue(o.err().contains("[rank " + r + "] rank " + r + "/" + worldSize + " pid " + o.result().pids().get(r) + " host "),
                    "rank " + r + " banner missing");
        }
    }

    @Test
    @Timeout(value = 90, unit = TimeUnit.SECONDS)
    void rendezvousDirectoryInsteadOfCoordinator(@TempDir Path dir) throws Exception {
        Jobs.Outcome o = Jobs.run(3, List.of("1,65536,1048576"),
                Map.of("RINGATTN_TIMEOUT", "20", "RINGATTN_RENDEZVOUS_DIR", dir.toString()),
                Duration.ofSeconds(80), Duration.ofSeconds(2));
        assertTrue(o.result().succeeded(), () -> "job failed: " + o.result() + "\n" + o.all());
        for (int r = 0; r < 3; r++) {
            assertTrue(o.out().contains("OK rank " + r + " checked 6 blocks"));
        }
        try (var files = Files.walk(dir)) {
            assertEquals(List.of(dir), files.toList(), "rendezvous entries are removed at close");
        }
    }

    @ParameterizedTest(name = "{0} ranks in one JVM")
    @ValueSource(ints = {1, 2, 3, 4})
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void inJvmRingRotatesTheSame(int worldSize) {
        long[] sizes = java.util.Arrays.stream(SIZES.split(",")).mapToLong(Long::parseLong).toArray();
        List<Integer> checked = InJvmRing.run(worldSize, Duration.ofSeconds(10),
                t -> RotationWorker.rotate(t, sizes, -1, -1));
        for (int c : checked) {
            assertEquals(SIZE_COUNT * (worldSize - 1), c);
        }
    }

    @ParameterizedTest(name = "{0} ranks as threads, each with its own UCX context, {1}")
    @CsvSource({"1, auto", "2, tag", "2, put", "3, auto"})
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void ucxRanksAsThreadsOfOneJvm(int worldSize, String dataPath) throws Exception {
        List<Integer> checked = InProcess.run(worldSize, dataPath, t -> RotationWorker.rotate(t,
                new long[] {0, 1, 4099, 65536, 1048576}, -1, -1));
        for (int c : checked) {
            assertEquals(5 * (worldSize - 1), c);
        }
    }
}
