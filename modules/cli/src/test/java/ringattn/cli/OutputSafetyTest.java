package ringattn.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import ringattn.engine.tensor.DType;
import ringattn.engine.tensor.Tensor;
import ringattn.io.ArrayData;
import ringattn.io.Npy;
import ringattn.io.Safetensors;
import ringattn.io.TensorFiles;

/**
 * Outputs never destroy inputs or each other: an output naming an input (by any spelling or link)
 * or another output is refused with exit 2 before anything is written; errors name the option and
 * the user's path, never a temporary file; absurd timeouts are usage errors.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class OutputSafetyTest {
    @TempDir
    Path dir;
    Path q;
    Path k;
    Path v;

    @BeforeEach
    void inputs() {
        q = npy("q.npy", 1);
        k = npy("k.npy", 2);
        v = npy("v.npy", 3);
    }

    Path npy(String name, long seed) {
        Path p = dir.resolve(name);
        try (Tensor t = RunCommandTest.random(8, 2, 4, DType.F32, seed)) {
            Npy.write(p, ArrayData.of(t));
        }
        return p;
    }

    CliRun run(String... extra) {
        List<String> args = new ArrayList<>(List.of("run", "--q", q.toString(), "--k", k.toString(), "--v", v.toString(),
                "--threads", "1"));
        args.addAll(List.of(extra));
        return CliRun.of(args.toArray(String[]::new));
    }

    static void assertUsage(CliRun r, String errorLine) {
        assertEquals(ExitCode.USAGE, r.code(), r.toString());
        assertEquals(List.of(errorLine), r.errorLines(), r.toString());
    }

    @Test
    void anOutputThatIsAnInputIsRefusedAndTheInputKept() throws Exception {
        byte[] before = Files.readAllBytes(q);
        assertUsage(run("--out", q.toString()), "error: --out: " + q + " is also the input of --q");
        assertArrayEquals(before, Files.readAllBytes(q));

        Path other = dir.resolve("sub").resolve("..").resolve("k.npy");
        Files.createDirectory(dir.resolve("sub"));
        assertUsage(run("--out", dir.resolve("o.npy").toString(), "--lse", other.toString()),
                "error: --lse: " + other + " is also the input of --k");

        Path link = Files.createSymbolicLink(dir.resolve("link.npy"), v);
        byte[] vBefore = Files.readAllBytes(v);
        assertUsage(run("--out", link.toString()), "error: --out: " + link + " is also the input of --v");
        assertArrayEquals(vBefore, Files.readAllBytes(v));
        assertTrue(Files.isSymbolicLink(link), "the link is not replaced either");
    }

    @Test
    void anOutputIntoTheInputsSafetensorsFileIsRefused() throws Exception {
        Path qkv = dir.resolve("qkv.safetensors");
        Map<String, ArrayData> m = new LinkedHashMap<>();
        try (Arena arena = Arena.ofConfined()) {
            m.put("q", TensorFiles.read(q.toString(), arena));
            m.put("k", TensorFiles.read(k.toString(), arena));
            m.put("v", TensorFiles.read(v.toString(), arena));
            Safetensors.write(qkv, m);
        }
        byte[] before = Files.readAllBytes(qkv);
        CliRun r = CliRun.of("run", "--q", qkv + ":q", "--k", qkv + ":k", "--v", qkv + ":v", "--out", qkv + ":o",
                "--threads", "1");
        assertUsage(r, "error: --out: " + qkv + " is also the input of --q");
        assertArrayEquals(before, Files.readAllBytes(qkv));
    }

    @Test
    void twoOutputsOfOneFileNameBothOptions() throws Exception {
        Path same = dir.resolve("same.npy");
        assertUsage(run("--out", same.toString(), "--lse", same.toString()),
                "error: --lse: " + same + " is also the output of --out");
        Path st = dir.resolve("o.safetensors");
        assertUsage(run("--out", st + ":x", "--lse", st + ":x"),
                "error: --lse: writes the same tensor 'x' of " + st + " as --out");
        assertFalse(Files.exists(same) || Files.exists(st));
        try (var files = Files.list(dir)) {
            assertTrue(files.noneMatch(f -> f.getFileName().toString().startsWith(".")), "no temporary files");
        }
    }

    @Test
    void twoSpellingsOfOneSafetensorsOutputWriteOneFileWithBothTensors() throws Exception {
        Path st = dir.resolve("o.safetensors");
        Path dotted = dir.resolve(".").resolve("o.safetensors");
        CliRun r = run("--out", st + ":o", "--lse", dotted + ":lse");
        assertEquals(0, r.code(), r.toString());
        try (Arena arena = Arena.ofConfined()) {
            assertEquals(8, TensorFiles.read(st + ":o", arena).shape()[0], "--out's tensor was not lost");
            assertEquals(2, TensorFiles.read(st + ":lse", arena).shape()[0]);
        }
    }

    @Test
    void absurdTimeoutsAreUsageErrors() {
        assertUsage(run("--out", dir.resolve("o.npy").toString(), "--timeout", "1e300"),
                "error: --timeout: must be at most 604800 seconds (7 days), got 1e300");
        CliRun demo = CliRun.of("demo", "--transport", "local", "--ranks", "1", "--seq", "8", "--heads", "1",
                "--head-dim", "4", "--threads", "1", "--timeout", "1e300");
        assertUsage(demo, "error: --timeout: must be at most 604800 seconds (7 days), got 1e300");
        assertUsage(run("--out", dir.resolve("o.npy").toString(), "--timeout", "Infinity"),
                "error: --timeout: expected a finite number, got 'Infinity'");
        CliRun bench = CliRun.of("bench", "--out", dir.resolve("b").toString(), "--timeout", "1e300");
        assertUsage(bench, "error: --timeout: must be at most 604800 seconds (7 days), got 1e300");
        assertFalse(Files.exists(dir.resolve("o.npy")));
    }

    @Test
    void anUnwritableOutputDirectoryNamesTheOptionAndThePath() throws Exception {
        Path ro = Files.createDirectory(dir.resolve("ro"));
        assumeTrue(ro.getFileSystem().supportedFileAttributeViews().contains("posix"), "POSIX permissions");
        Files.setPosixFilePermissions(ro, PosixFilePermissions.fromString("r-xr-xr-x"));
        try {
            assumeTrue(!Files.isWritable(ro), "root writes in read-only directories");
            Path out = ro.resolve("o.npy");
            CliRun r = run("--out", out.toString());
            assertEquals(ExitCode.USAGE, r.code(), r.toString());
            assertEquals(1, r.errorLines().size(), r.toString());
            String line = r.errorLines().getFirst();
            assertTrue(line.startsWith("error: --out: " + out + ": cannot write: permission denied"), line);
            assertFalse(line.contains(".part"), line);
        } finally {
            Files.setPosixFilePermissions(ro, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
    }
}
