package ringattn.engine.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A JVM started without {@code --add-modules jdk.incubator.vector}, on the module path and on the
 * class path, starts, finds both CPU kernel providers, falls back to the scalar kernel with the
 * reason (logged once), refuses a forced {@code simd} in one line and says why there is no matrix
 * multiply; with the module it takes the Vector API. Each case runs {@code KernelChoiceMain} in a
 * JVM of its own (bounded by a timeout) over this module's {@code target/classes} and
 * {@code target/test-classes}.
 */
class SimdProviderFallbackTest {
    private static final String NO_MODULE = "module jdk.incubator.vector not resolved: pass --add-modules jdk.incubator.vector";
    private static final Path CLASSES = Path.of("target", "classes");
    private static final Path TEST_CLASSES = Path.of("target", "test-classes");
    private static final String MAIN = "ringattn.engine.testing.KernelChoiceMain";

    @TempDir
    Path dir;

    /** The output lines (stdout and stderr) of {@code java <args> MAIN}. */
    private List<String> run(String... args) throws IOException, InterruptedException {
        assertTrue(Files.isRegularFile(CLASSES.resolve("module-info.class")), "no " + CLASSES.toAbsolutePath());
        assertTrue(Files.isDirectory(TEST_CLASSES), "no " + TEST_CLASSES.toAbsolutePath());
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(List.of(args));
        command.add(MAIN);
        Path out = Files.createTempFile(dir, "out", ".txt");
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(out.toFile()).start();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            throw new AssertionError("timed out: " + command + "\n" + Files.readString(out));
        }
        List<String> lines = Files.readAllLines(out, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), command + "\n" + String.join("\n", lines));
        return lines;
    }

    private static String classPath(Path... entries) {
        List<String> s = new ArrayList<>();
        for (Path e : entries) {
            s.add(e.toString());
        }
        return String.join(java.io.File.pathSeparator, s);
    }

    private static List<String> starting(List<String> lines, String prefix) {
        return lines.stream().filter(l -> l.startsWith(prefix)).toList();
    }

    private static void assertScalarWithTheReason(List<String> lines) {
        String all = String.join("\n", lines);
        assertEquals(List.of("select scalar scalar | requested; plain Java loops (simd unavailable: " + NO_MODULE + ")",
                "select scalar scalar | requested; plain Java loops (simd unavailable: " + NO_MODULE + ")"),
                starting(lines, "select"), all);
        assertEquals(List.of("gemm-error DeviceUnavailableException | gemm: no usable CPU kernel has a matrix multiply"
                + " (simd: " + NO_MODULE + ")"), starting(lines, "gemm"), all);
        assertEquals(1, lines.stream().filter(l -> l.contains("ringattn device: cpu, kernel scalar")).count(),
                "the choice is logged once:\n" + all);
    }

    @Test
    void modulePathWithoutTheVectorModuleFallsBackToScalar() throws Exception {
        assertScalarWithTheReason(run("-p", CLASSES.toString(), "--add-modules", "ringattn.engine",
                "-cp", TEST_CLASSES.toString()));
    }

    @Test
    void classPathWithoutTheVectorModuleFallsBackToScalar() throws Exception {
        assertScalarWithTheReason(run("-cp", classPath(CLASSES, TEST_CLASSES)));
    }

    @Test
    void forcedSimdWithoutTheVectorModuleIsOneLineSayingWhatToPass() throws Exception {
        List<String> lines = run("-Dringattn.kernel=simd", "-p", CLASSES.toString(), "--add-modules", "ringattn.engine",
                "-cp", TEST_CLASSES.toString());
        String error = "error DeviceUnavailableException | kernel simd (ringattn.kernel): unavailable, " + NO_MODULE;
        assertEquals(List.of(error, error), starting(lines, "error"), String.join("\n", lines));
    }

    @Test
    void withTheVectorModuleTheVectorKernelIsChosen() throws Exception {
        List<String> lines = run("--add-modules", "jdk.incubator.vector", "-p", CLASSES.toString(),
                "--add-modules", "ringattn.engine", "-cp", TEST_CLASSES.toString());
        List<String> selected = starting(lines, "select");
        assertEquals(2, selected.size(), String.join("\n", lines));
        assertTrue(selected.getFirst().startsWith("select simd panama-"), selected.getFirst());
        assertTrue(starting(lines, "gemm").getFirst().startsWith("gemm panama-"), String.join("\n", lines));
    }
}
