package ringattn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The launcher script {@code ringattn} in a scratch checkout, with stand-ins for {@code ldconfig},
 * {@code apt-get} and {@code mvn} first on the PATH: a rank never builds nor installs, the UCX check
 * holds when {@code ldconfig}'s listing is long, and two first runs build once.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class LauncherScriptTest {
    static final Path SCRIPT = Path.of("../../ringattn").toAbsolutePath().normalize();

    @TempDir
    Path root;
    Path bin;
    Path log;
    Path go;

    static void executable(Path file, String text) throws Exception {
        Files.writeString(file, text, StandardCharsets.UTF_8);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    @BeforeEach
    void checkout() throws Exception {
        assertTrue(Files.isRegularFile(SCRIPT), "the launcher script at " + SCRIPT);
        String script = Files.readString(SCRIPT, StandardCharsets.UTF_8);
        executable(root.resolve("ringattn"), script);
        for (String d : List.of("engine", "transport", "modules")) {
            Files.createDirectory(root.resolve(d));
        }
        Files.writeString(root.resolve("pom.xml"), "<project/>\n");
        Matcher version = Pattern.compile("(?m)^VERSION=(\\S+)$").matcher(script);
        assertTrue(version.find(), "VERSION= in the script");
        bin = Files.createDirectory(root.resolve("stub-bin"));
        log = root.resolve("stub.log");
        go = root.resolve("stub.go");
        // UCX is installed, but the listing goes on long after its line, as on a real machine.
        executable(bin.resolve("ldconfig"), """
                #!/usr/bin/env bash
                echo "	libucp.so.0 (libc6,x86-64) => /lib/x86_64-linux-gnu/libucp.so.0"
                for i in $(seq 1 20000); do echo "	libstub$i.so (libc6,x86-64) => /lib/x86_64-linux-gnu/libstub$i.so"; done
                """);
        executable(bin.resolve("apt-get"), "#!/usr/bin/env bash\necho \"apt-get $*\" >>\"$STUB_LOG\"\nexit 1\n");
        // A build that waits for the test's go-ahead, then leaves the jars the launcher looks for.
        String v = version.group(1);
        executable(bin.resolve("mvn"), """
                #!/usr/bin/env bash
                echo "mvn start" >>"$STUB_LOG"
                for i in $(seq 1 600); do [ -e "$STUB_GO" ] && break; sleep 0.1; done
                mkdir -p "$STUB_ROOT/modules/cli/target/lib"
                touch "$STUB_ROOT/modules/cli/target/ringattn-cli-%s.jar"
                echo "mvn end" >>"$STUB_LOG"
                """.formatted(v));
    }

    @AfterEach
    void releaseStubs() throws Exception {
        if (!Files.exists(go)) {
            Files.createFile(go); // a stub build still waiting ends at once
        }
    }

    ProcessBuilder launcher(String... args) {
        ProcessBuilder pb = new ProcessBuilder("bash", root.resolve("ringattn").toString());
        pb.command().addAll(List.of(args));
        Map<String, String> env = pb.environment();
        env.keySet().removeIf(k -> k.startsWith("RINGATTN_"));
        env.put("PATH", bin + ":" + env.getOrDefault("PATH", "/usr/bin:/bin"));
        env.put("JAVA_HOME", System.getProperty("java.home"));
        env.put("STUB_LOG", log.toString());
        env.put("STUB_GO", go.toString());
        env.put("STUB_ROOT", root.toString());
        return pb;
    }

    List<String> stubLog() throws Exception {
        return Files.exists(log) ? Files.readAllLines(log) : List.of();
    }

    static void await(BooleanSupplier condition, Duration bound, String what) throws InterruptedException {
        long end = System.nanoTime() + bound.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > end) {
                throw new AssertionError(what + " did not happen within " + bound);
            }
            Thread.sleep(50);
        }
    }

    @Test
    void aWorkerWithoutABuildNeitherBuildsNorInstallsAndSaysWhatToRun() throws Exception {
        Path err = root.resolve("err.txt");
        Process p = launcher("worker", "demo").redirectError(err.toFile()).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the worker did not exit");
        Path script = root.resolve("ringattn");
        assertEquals(List.of("error: worker: no build in " + root + " (modules/cli/target): run '" + script + " build' once "
                + "before starting ranks, or start them from a runtime image ('" + script + " dist')"), Files.readAllLines(err),
                "stderr (UCX is found: no warning about it)");
        assertEquals(2, p.exitValue());
        assertEquals(List.of(), stubLog(), "neither mvn nor apt-get ran");
    }

    /**
     * {@code ./ringattn test} with a stand-in JDK whose jlink makes a runtime image whose java is the
     * demo: the demo's exit 1 (a result outside its tolerance) must be the command's, after the
     * suite (stub mvn) passed; with a demo that passes the command passes.
     */
    @Test
    void testFailsWhenTheImagesDemoFails() throws Exception {
        Path jdk = root.resolve("stub-jdk");
        Files.createDirectories(jdk.resolve("bin"));
        executable(jdk.resolve("bin/java"), "#!/usr/bin/env bash\necho '    java.specification.version = 25' >&2\n");
        executable(jdk.resolve("bin/javac"), "#!/usr/bin/env bash\n");
        // jlink --add-modules ... --output DIR ...: an image whose bin/java plays the demo
        executable(jdk.resolve("bin/jlink"), """
                #!/usr/bin/env bash
                while [ $# -gt 0 ]; do [ "$1" = --output ] && out="$2"; shift; done
                mkdir -p "$out/bin"
                printf '%s\\n' '#!/usr/bin/env bash' 'echo "image java $*" >>"$STUB_LOG"' \\
                  'if [ -n "${STUB_DEMO_FAILS:-}" ]; then echo "error: demo: result outside the tolerance" >&2; exit 1; fi' \\
                  > "$out/bin/java"
                chmod +x "$out/bin/java"
                """);
        // what the stub build leaves, plus a dependency jar
        Files.createFile(Files.createDirectories(root.resolve("modules/cli/target/lib")).resolve("dep-cli.jar"));
        Files.createFile(go);
        for (boolean fails : new boolean[] {true, false}) {
            Files.deleteIfExists(log);
            ProcessBuilder pb = launcher("test");
            pb.environment().put("RINGATTN_JAVA_HOME", jdk.toString());
            if (fails) {
                pb.environment().put("STUB_DEMO_FAILS", "1");
            }
            Path err = root.resolve("test-err.txt");
            Process p = pb.redirectError(err.toFile()).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "./ringattn test did not exit");
            List<String> ran = stubLog();
            assertEquals("mvn start", ran.getFirst(), "the suite ran first: " + ran);
            assertTrue(ran.getLast().startsWith("image java ") && ran.getLast().contains(" demo --transport local "),
                    "then the image's demo: " + ran + "\n" + Files.readString(err));
            assertEquals(fails ? 1 : 0, p.exitValue(), Files.readString(err));
        }
    }

    /**
     * {@code prefill} is a command of the one program: the script starts it exactly as it starts
     * {@code demo} (same java options, module path, native access and main class), with the command
     * word first.
     */
    @Test
    void prefillStartsLikeEveryOtherCommand() throws Exception {
        Path jdk = root.resolve("stub-jdk");
        Files.createDirectories(jdk.resolve("bin"));
        executable(jdk.resolve("bin/java"), """
                #!/usr/bin/env bash
                echo '    java.specification.version = 25' >&2
                [ "$1" = -XshowSettings:properties ] || echo "java $*" >>"$STUB_LOG"
                """);
        executable(jdk.resolve("bin/javac"), "#!/usr/bin/env bash\n");
        Files.createFile(go);
        for (String command : List.of("demo", "prefill")) {
            ProcessBuilder pb = launcher(command, "--tiny");
            pb.environment().put("RINGATTN_JAVA_HOME", jdk.toString());
            Path err = root.resolve(command + "-err.txt");
            Process p = pb.redirectError(err.toFile()).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "./ringattn " + command + " did not exit");
            assertEquals(0, p.exitValue(), Files.readString(err));
        }
        List<String> started = stubLog().stream().filter(l -> l.startsWith("java ")).toList();
        assertEquals(2, started.size(), "one java per command: " + stubLog());
        assertTrue(started.get(0).endsWith(" -m ringattn.cli/ringattn.cli.Main demo --tiny"), started.get(0));
        assertEquals(started.get(0).replace(" demo --tiny", " prefill --tiny"), started.get(1));
    }

    @Test
    void twoFirstRunsBuildOnceBetweenThem() throws Exception {
        Path errA = root.resolve("a.txt");
        Path errB = root.resolve("b.txt");
        Process a = launcher("build").redirectError(errA.toFile()).start();
        Process b = null;
        try {
            await(() -> {
                try {
                    return stubLog().contains("mvn start");
                } catch (Exception e) {
                    return false;
                }
            }, Duration.ofSeconds(60), "the first build's start");
            b = launcher("build").redirectError(errB.toFile()).start();
            Process second = b;
            await(() -> {
                try {
                    return Files.readString(errB).contains("another ringattn build of " + root + " is running; waiting for it")
                            || stubLog().size() > 1 || !second.isAlive();
                } catch (Exception e) {
                    return false;
                }
            }, Duration.ofSeconds(60), "the second run's wait for the lock");
            Files.createFile(go);
            assertTrue(a.waitFor(60, TimeUnit.SECONDS) && b.waitFor(60, TimeUnit.SECONDS));
            assertEquals(List.of("mvn start", "mvn end"), stubLog(), "builds run\n" + Files.readString(errA) + Files.readString(errB));
            assertEquals(0, a.exitValue(), Files.readString(errA));
            assertEquals(0, b.exitValue(), Files.readString(errB));
            assertFalse(Files.readString(errB).contains("building"), "the second run found the build done: " + Files.readString(errB));
        } finally {
            for (Process p : new Process[] {a, b}) {
                if (p != null) {
                    p.descendants().forEach(ProcessHandle::destroyForcibly);
                    p.destroyForcibly();
                }
            }
        }
    }
}
