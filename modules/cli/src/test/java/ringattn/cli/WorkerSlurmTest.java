package ringattn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import ringattn.io.Json;

/**
 * {@code worker} as srun starts it: several processes that know only SLURM_PROCID, SLURM_NTASKS and
 * SLURM_JOB_ID, meeting through a rendezvous directory. Rank 0 prints the summary; a result outside
 * {@code --tolerance} fails every rank.
 */
@Timeout(value = 150, unit = TimeUnit.SECONDS)
class WorkerSlurmTest {
    @TempDir
    Path dir;
    private final List<Process> started = new ArrayList<>();

    @AfterEach
    void killLeftovers() {
        for (Process p : started) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
    }

    List<Process> srun(int ranks, List<String> args) throws IOException, InterruptedException {
        List<String> cmd = CliProcess.command(args);
        String job = "slurmtest" + System.nanoTime();
        for (int r = 0; r < ranks; r++) {
            ProcessBuilder pb = new ProcessBuilder(cmd);
            Map<String, String> env = pb.environment();
            env.keySet().removeIf(k -> k.startsWith("RINGATTN_") || k.startsWith("SLURM_") || k.startsWith("OMPI_")
                    || k.startsWith("PMI_"));
            env.put("SLURM_PROCID", Integer.toString(r));
            env.put("SLURM_NTASKS", Integer.toString(ranks));
            env.put("SLURM_JOB_ID", job);
            env.put("RINGATTN_SECRET", "test-secret-" + job);
            pb.redirectOutput(dir.resolve("out" + r).toFile());
            pb.redirectError(dir.resolve("err" + r).toFile());
            started.add(pb.start());
        }
        for (Process p : started) {
            assertTrue(p.waitFor(120, TimeUnit.SECONDS), "rank finished in time");
        }
        return started;
    }

    String read(String name) throws IOException {
        return Files.readString(dir.resolve(name), StandardCharsets.UTF_8);
    }

    @Test
    void slurmStyleWorkersRunTheDemo() throws Exception {
        Path rendezvous = Files.createDirectory(dir.resolve("rendezvous"));
        List<Process> procs = srun(3, List.of("worker", "demo", "--seq", "256", "--heads", "2", "--head-dim", "16",
                "--threads", "1", "--rendezvous", rendezvous.toString(), "--timeout", "30", "--json"));
        for (int r = 0; r < 3; r++) {
            assertEquals(0, procs.get(r).exitValue(), "rank " + r + ": " + read("err" + r));
            assertTrue(read("err" + r).contains("rank " + r + "/3 pid " + procs.get(r).pid()), read("err" + r));
        }
        List<String> lines = read("out0").lines().filter(l -> !l.isBlank()).toList();
        Map<?, ?> j = (Map<?, ?>) Json.parse(lines.getLast());
        DemoCommandTest.assertDemoJson(j, 3, 256, "ucx");
        assertEquals(3, ((List<?>) j.get("pids")).size());
        assertTrue(read("out1").isBlank() && read("out2").isBlank(), "only rank 0 prints");
    }

    @Test
    void slurmStyleWorkersRunOnFilesAndRankZeroPublishesTheOutputs() throws Exception {
        Path rendezvous = Files.createDirectory(dir.resolve("rendezvous"));
        String[] in = new String[3];
        try (var q = RunCommandTest.random(40, 2, 8, ringattn.engine.tensor.DType.F32, 1);
             var k = RunCommandTest.random(40, 1, 8, ringattn.engine.tensor.DType.F32, 2);
             var v = RunCommandTest.random(40, 1, 8, ringattn.engine.tensor.DType.F32, 3)) {
            var tensors = List.of(q, k, v);
            for (int i = 0; i < 3; i++) {
                in[i] = dir.resolve("in" + i + ".npy").toString();
                ringattn.io.Npy.write(Path.of(in[i]), ringattn.io.ArrayData.of(tensors.get(i)));
            }
            Path out = dir.resolve("o.safetensors");
            // a link planted where a job id would have put the temporary output must not be followed
            String job = "planted" + System.nanoTime();
            Path victim = Files.writeString(dir.resolve("victim.txt"), "not an output\n");
            Files.createSymbolicLink(dir.resolve(".o.safetensors.ringattn-" + job + ".part"), victim);
            List<Process> procs = srun(2, List.of("worker", "run", "--q", in[0], "--k", in[1], "--v", in[2],
                    "--out", out + ":o", "--lse", out + ":lse", "--causal", "--threads", "1", "--job-id", job,
                    "--rendezvous", rendezvous.toString(), "--timeout", "30", "--json"));
            for (int r = 0; r < 2; r++) {
                assertEquals(0, procs.get(r).exitValue(), "rank " + r + ": " + read("err" + r));
            }
            Map<?, ?> j = (Map<?, ?>) Json.parse(read("out0").lines().filter(l -> !l.isBlank()).toList().getLast());
            assertEquals(2L, j.get("ranks"));
            assertEquals("ucx", j.get("transport"));
            var ref = ringattn.engine.reference.ReferenceAttention.forward(q, k, v,
                    ringattn.engine.kernel.AttentionSpec.of(8).withCausal(true));
            try (var arena = java.lang.foreign.Arena.ofConfined()) {
                RunCommandTest.assertClose(ringattn.io.TensorFiles.read(out + ":o", arena).toTensor("o"), ref.out(),
                        RunCommandTest.TOL_F32, "O from srun-style workers");
            }
            assertEquals("not an output\n", new String(Files.readAllBytes(victim), StandardCharsets.ISO_8859_1),
                    "the planted link's target is untouched");
            assertTrue(Files.isRegularFile(out, java.nio.file.LinkOption.NOFOLLOW_LINKS), "the output is a file, not the link");
            try (var files = Files.list(dir)) {
                assertTrue(files.noneMatch(f -> f.getFileName().toString().endsWith(".part") && !Files.isSymbolicLink(f)),
                        "no temporary outputs");
            }
        }
    }

    @Test
    void aResultOutsideTheToleranceFailsEveryRankAndRankZeroSaysWhy() throws Exception {
        Path rendezvous = Files.createDirectory(dir.resolve("rendezvous"));
        List<Process> procs = srun(2, List.of("worker", "demo", "--seq", "64", "--heads", "1", "--head-dim", "16",
                "--threads", "1", "--repeat", "1", "--rendezvous", rendezvous.toString(), "--timeout", "30",
                "--tolerance", "1e-12"));
        for (int r = 0; r < 2; r++) {
            assertEquals(ExitCode.FAILURE, procs.get(r).exitValue(), "rank " + r + ": " + read("err" + r));
        }
        assertTrue(read("out0").startsWith("ranks  seq"), "rank 0 prints the result first: " + read("out0"));
        List<String> errors = read("err0").lines().filter(l -> l.startsWith("error:")).toList();
        assertEquals(1, errors.size(), read("err0"));
        assertTrue(errors.getFirst().startsWith("error: demo: result outside the tolerance 1.00e-12 (--tolerance): "
                + "max_abs_err "), errors.getFirst());
        assertTrue(read("err1").lines().noneMatch(l -> l.startsWith("error:")), "only rank 0 says why: " + read("err1"));
    }

    @Test
    void aWorkerWithoutLauncherEnvironmentIsASingleRankJob() {
        List<String> set = java.util.stream.Stream.of("SLURM_PROCID", "RINGATTN_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK")
                .filter(k -> System.getenv(k) != null).toList();
        assumeTrue(set.isEmpty(), "this test JVM runs under a launcher (" + set + " set), so a worker started in it "
                + "is a rank of that job, not a single-rank job");
        CliRun r = CliRun.of("worker", "demo", "--seq", "64", "--heads", "1", "--head-dim", "16", "--threads", "1");
        assertEquals(0, r.code(), r.toString());
        assertTrue(r.out().lines().toList().get(1).startsWith("1      64"), r.out());
        CliRun strict = CliRun.of("worker", "demo", "--seq", "64", "--heads", "1", "--head-dim", "16", "--threads", "1",
                "--repeat", "1", "--tolerance", "1e-12");
        assertEquals(ExitCode.FAILURE, strict.code(), strict.toString());
        assertEquals(1, strict.errorLines().size(), strict.toString());
        CliRun wrong = CliRun.of("worker", "demo", "--ranks", "2", "--seq", "64");
        assertEquals(ExitCode.USAGE, wrong.code(), wrong.toString());
        assertTrue(wrong.errorLines().getFirst().startsWith("error: --ranks: 2 differs from the job's world size 1"),
                wrong.toString());
    }
}
