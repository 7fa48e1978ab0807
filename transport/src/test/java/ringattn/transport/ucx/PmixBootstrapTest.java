package ringattn.transport.ucx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import ringattn.launch.LocalLauncher;

/**
 * The PMIx address exchange under Open MPI's real mpirun (skipped, with the reason, where mpirun
 * is not installed): no coordinator address, no secret, no port to collide on.
 */
class PmixBootstrapTest {
    private static Path mpirun;

    @BeforeAll
    static void findMpirun() {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(File.pathSeparator)) {
            Path p = Path.of(dir, "mpirun");
            if (Files.isExecutable(p)) {
                mpirun = p;
                return;
            }
        }
    }

    private record Run(int code, String out, String err) {
        String all() {
            return out + err;
        }
    }

    /** {@code mpirun -np N java … RotationWorker sizes}, bounded; the environment names no coordinator or secret. */
    private static Process start(int ranks, String sizes, Map<String, String> env) throws Exception {
        assumeTrue(mpirun != null, "mpirun not installed (apt-get install openmpi-bin)");
        List<String> cmd = new ArrayList<>(List.of(mpirun.toString(), "--oversubscribe", "--bind-to", "none", "-np",
                Integer.toString(ranks)));
        if ("root".equals(System.getProperty("user.name"))) {
            cmd.add(1, "--allow-run-as-root");
        }
        LocalLauncher.Spec spec = LocalLauncher.Spec.sameJvm(RotationWorker.class.getName(), List.of(sizes), Map.of(),
                java.time.Duration.ofMinutes(1));
        cmd.add(spec.java().toString());
        cmd.addAll(spec.jvmArgs());
        cmd.addAll(List.of("-cp", spec.classPath(), RotationWorker.class.getName(), sizes));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().keySet().removeIf(k -> k.startsWith("RINGATTN_") || k.startsWith("OMPI_") || k.startsWith("PMIX_")
                || k.startsWith("SLURM_"));
        pb.environment().putAll(env);
        return pb.start();
    }

    private static Run finish(Process p) throws Exception {
        var out = p.getInputStream();
        var err = p.getErrorStream();
        StringBuilder ob = new StringBuilder();
        StringBuilder eb = new StringBuilder();
        Thread to = Thread.ofPlatform().start(() -> ob.append(read(out)));
        Thread te = Thread.ofPlatform().start(() -> eb.append(read(err)));
        if (!p.waitFor(90, TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
        to.join(5000);
        te.join(5000);
        Run r = new Run(p.exitValue(), ob.toString(), eb.toString());
        System.out.println(r.all());
        return r;
    }

    private static String read(java.io.InputStream in) {
        try {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (java.io.IOException e) {
            return "";
        }
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void mpirunAloneIsEnough() throws Exception {
        Run r = finish(start(3, "4096,65536", Map.of()));
        assertEquals(0, r.code(), r.all());
        for (int rank = 0; rank < 3; rank++) {
            assertTrue(r.out().contains("OK rank " + rank + " checked 4 blocks"), r.all());
        }
        assertTrue(r.err().contains("bootstrap through PMIx (namespace "), r.all());
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void twoJobsStartedTogetherDoNotCollide() throws Exception {
        Process a = start(2, "65536", Map.of());
        Process b = start(2, "65536", Map.of());
        Run ra = finish(a);
        Run rb = finish(b);
        assertEquals(0, ra.code(), ra.all());
        assertEquals(0, rb.code(), rb.all());
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void pmixWithoutALauncherIsAClearError() throws Exception {
        assumeTrue(mpirun != null, "mpirun not installed (apt-get install openmpi-bin)");
        LocalLauncher.Spec spec = LocalLauncher.Spec.sameJvm(RotationWorker.class.getName(), List.of("4096"), Map.of(),
                java.time.Duration.ofMinutes(1));
        List<String> cmd = new ArrayList<>(List.of(spec.java().toString()));
        cmd.addAll(spec.jvmArgs());
        cmd.addAll(List.of("-cp", spec.classPath(), RotationWorker.class.getName(), "4096"));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().keySet().removeIf(k -> k.startsWith("RINGATTN_") || k.startsWith("PMIX_"));
        pb.environment().putAll(Map.of("RINGATTN_BOOTSTRAP", "pmix", "RINGATTN_RANK", "0", "RINGATTN_WORLD_SIZE", "2"));
        Run r = finish(pb.start());
        assertEquals(2, r.code(), r.all());
        assertTrue(r.err().contains("ConfigurationException: bootstrap: pmix: PMIx_Init failed"), r.all());
    }
}
