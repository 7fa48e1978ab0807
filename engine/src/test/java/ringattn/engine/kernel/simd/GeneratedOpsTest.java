package ringattn.engine.kernel.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The per-shape classes ({@code Ops512R32}, {@code Ops256R16}, …) are checked in but generated:
 * the generator, run in check mode on the template, must find nothing to change. Runs
 * {@code engine/codegen/GenerateOps.java} with this JVM's {@code java} (single-file source launch),
 * from the engine module's directory (Surefire's working directory), bounded to two minutes.
 */
class GeneratedOpsTest {
    private static final Path ENGINE = Path.of("").toAbsolutePath();
    private static final Path SIMD = Path.of("src/main/java/ringattn/engine/kernel/simd");

    @Test
    void checkedInClassesAreWhatTheTemplateGenerates() throws IOException, InterruptedException {
        Result r = check(ENGINE);
        assertEquals(0, r.exit(), "generated classes are stale or the generator failed: " + r.output());
    }

    /** The check must fail, naming the class, when a generated file was edited by hand. */
    @Test
    void anEditedClassFailsTheCheck(@TempDir Path tmp) throws IOException, InterruptedException {
        Files.createDirectories(tmp.resolve("codegen"));
        Files.copy(ENGINE.resolve("codegen/Ops.java.template"), tmp.resolve("codegen/Ops.java.template"));
        Path simd = Files.createDirectories(tmp.resolve(SIMD));
        try (var files = Files.list(ENGINE.resolve(SIMD))) {
            for (Path f : files.filter(f -> f.getFileName().toString().matches("Ops\\d+R\\d+\\.java")).toList()) {
                Files.copy(f, simd.resolve(f.getFileName()));
            }
        }
        assertEquals(0, check(tmp).exit(), "the copy should start up to date");
        Path edited = simd.resolve("Ops256R16.java");
        Files.writeString(edited, Files.readString(edited).replace("private static final int NR = 2;", "private static final int NR = 4;"));
        Result r = check(tmp);
        assertEquals(1, r.exit(), r.output());
        assertTrue(r.output().contains("Ops256R16.java"), r.output());
    }

    private record Result(int exit, String output) {
    }

    private static Result check(Path root) throws IOException, InterruptedException {
        Path generator = ENGINE.resolve("codegen/GenerateOps.java");
        assertTrue(Files.isRegularFile(generator), "no generator at " + generator);
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process p = new ProcessBuilder(java.toString(), generator.toString(), "--check", "--root", root.toString())
                .redirectErrorStream(true).start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(2, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new AssertionError("generator did not finish in 2 minutes: " + out);
        }
        return new Result(p.exitValue(), out);
    }
}
