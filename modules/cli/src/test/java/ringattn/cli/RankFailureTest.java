package ringattn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** A rank process that dies ends the whole job with exit 3 and a message naming it; nothing hangs. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class RankFailureTest {
    @TempDir
    Path dir;

    @Test
    void aCrashedRankEndsTheDemoWithExitThree() throws Exception {
        CliRun r = CliProcess.run(dir, Map.of("RINGATTN_CRASH_RANK", "1"), Duration.ofSeconds(100),
                "demo", "--transport", "ucx", "--ranks", "3", "--seq", "256", "--heads", "1", "--head-dim", "16",
                "--threads", "1", "--timeout", "20");
        assertEquals(ExitCode.RANK_FAILED, r.code(), r.toString());
        assertTrue(r.errorLines().getLast().startsWith("error: rank 1 failed"), r.toString());
        assertTrue(r.err().contains("[rank 0] error: rank 1"), "the survivors name the dead rank: " + r);
        try (var files = Files.list(dir)) {
            assertEquals(2, files.count(), "only the captured output files");
        }
    }

    @Test
    void aCrashedRankLeavesNoOutputFiles() throws Exception {
        Path in = Files.createDirectory(dir.resolve("in"));
        String[] files = new String[3];
        for (int i = 0; i < 3; i++) {
            try (var t = RunCommandTest.random(32, 2, 8, ringattn.engine.tensor.DType.F32, i)) {
                Path p = in.resolve("t" + i + ".npy");
                ringattn.io.Npy.write(p, ringattn.io.ArrayData.of(t));
                files[i] = p.toString();
            }
        }
        Path out = Files.createDirectory(dir.resolve("out"));
        CliRun r = CliProcess.run(dir, Map.of("RINGATTN_CRASH_RANK", "0"), Duration.ofSeconds(100),
                "run", "--transport", "ucx", "--ranks", "2", "--q", files[0], "--k", files[1], "--v", files[2],
                "--out", out.resolve("o.npy").toString(), "--lse", out.resolve("lse.npy").toString(),
                "--threads", "1", "--timeout", "20");
        assertEquals(ExitCode.RANK_FAILED, r.code(), r.toString());
        assertTrue(r.errorLines().getLast().startsWith("error: rank 0 failed"), r.toString());
        try (var left = Files.list(out)) {
            assertEquals(0, left.count(), "neither outputs nor temporary files remain");
        }
    }
}
